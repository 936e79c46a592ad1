//! The job: everything gm2dqc does to one output directory, owned by the library so
//! that every face (the command line, the web application, the HTTP service) applies
//! the same rules.

pub mod stage;

pub use stage::Stage;
