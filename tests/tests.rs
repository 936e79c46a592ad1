//! One integration-test binary (one link step on 2 cores), a module per topic.

mod common;
mod root_fixtures;
mod root_mutation;
mod root_write;
mod analysis;
mod pipeline;
mod cuts;
mod db;
mod db_integrity;
mod cli;
mod simulate;
mod plots;
mod campaign;
mod job;
mod board;
mod inputs;
mod results;
mod server;
mod condb;
mod good_subruns;
