//! `gm2dqc serve`: the DQC web application and its JSON API, one face of the
//! library core like the command line (which it never imports).
//!
//! - The board (`/`, `/api/board`): [`crate::db::board`], every rule there (Held needs
//!   a note, the next cell becomes TODO, the sign-off of a second person).
//! - A dataset (`/datasets/{d}`, `/api/datasets/{d}/...`): [`crate::results`], read
//!   from the output directory the dataset's upload came from (recorded at upload) or
//!   one given with `--out`.
//! - Files (`/files/...`): the merged and subrun ROOT files, read-only, confined,
//!   with range requests, for JSROOT ([`files`]).
//! - Cut tuning (`/cuts`, `/api/datasets/{d}/tune`, `POST /api/cuts`):
//!   [`crate::results::Tuner`], the `cuts diff` engine.
//! - Conditions over HTTP (`/condb/...`, read-only, also alone with `--condb-only`):
//!   [`condb`], the bytes of `gm2dqc db get|tags|history` ([`crate::db::export`]).
//! - Who may do what ([`auth`]); every write audited ([`crate::db::users::audit`]).
//!
//! The database code is synchronous; it runs on tokio's blocking threads through
//! [`pool::Pool`]. Every asset is compiled into the binary ([`assets`]).

pub mod assets;
pub mod auth;
pub mod catalog;
pub mod condb;
pub mod error;
pub mod files;
pub mod html;
pub mod pool;
mod api;
mod pages;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::db::board::Layout;

pub use error::ApiError;

/// What `gm2dqc serve` was told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The conditions database (SQLite path or postgres:// URL).
    pub db: String,
    /// Output directories served besides those the uploads recorded.
    pub outs: Vec<PathBuf>,
    pub listen: SocketAddr,
    /// The board's layout when the page does not ask for one.
    pub layout: Layout,
    /// Where cut files saved from the browser go (never overwritten).
    pub cut_dir: PathBuf,
    pub auth: auth::AuthConfig,
    /// Serve only the read-only `/condb` routes (`gm2dqc serve --condb-only`).
    pub condb_only: bool,
}

/// The server's shared state.
pub struct App {
    pub cfg: ServeConfig,
    pub pool: Arc<pool::Pool>,
    pub catalog: catalog::Catalog,
    /// `/condb/get`'s immutable answers, formatted.
    pub condb_cache: condb::Cache,
}

impl App {
    pub fn new(cfg: ServeConfig) -> Arc<App> {
        let pool = Arc::new(pool::Pool::new(&cfg.db));
        let catalog = catalog::Catalog::new(cfg.outs.clone());
        Arc::new(App { cfg, pool, catalog, condb_cache: condb::Cache::default() })
    }

    /// The layout named in a query (`gm2dqc`, `g2`), else the server's.
    pub fn layout(&self, name: Option<&str>) -> Result<Layout, ApiError> {
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(self.cfg.layout.clone()),
            Some(n) if n == self.cfg.layout.name => Ok(self.cfg.layout.clone()),
            Some(n) => Layout::builtin(n).map_err(|e| ApiError::bad_request(format!("{e} (layouts served: gm2dqc, g2, {})", self.cfg.layout.name))),
        }
    }
}

/// Every route of the application.
pub fn router(app: Arc<App>) -> Router {
    if app.cfg.condb_only {
        return Router::new().merge(condb::routes()).fallback(api::not_found).layer(axum::middleware::map_response(api::security_headers)).with_state(app);
    }
    Router::new()
        .merge(condb::routes())
        .route("/", get(pages::board))
        .route("/login", get(pages::login).post(api::login))
        .route("/logout", post(api::logout))
        .route("/datasets/{dataset}", get(pages::dataset))
        .route("/datasets/{dataset}/subruns/{run}/{subrun}", get(pages::subrun))
        .route("/datasets/{dataset}/crystals/{calo}/{xtal}", get(pages::crystal))
        .route("/datasets/{dataset}/histograms", get(pages::histograms))
        .route("/cuts", get(pages::cuts))
        .route("/audit", get(pages::audit))
        .route("/tags", get(pages::tags))
        .route("/assets/{*path}", get(assets::serve))
        .route("/files/{dataset}/{root}/{*path}", get(api::file).head(api::file_head))
        .route("/api/whoami", get(api::whoami))
        .route("/api/board", get(api::board))
        .route("/api/board/version", get(api::board_version))
        .route("/api/board/{dataset}/{column}", post(api::set_cell))
        .route("/api/board/{dataset}/{column}/history", get(api::cell_history))
        .route("/api/datasets", get(api::datasets))
        .route("/api/datasets/{dataset}", get(api::dataset))
        .route("/api/datasets/{dataset}/subruns", get(api::subruns))
        .route("/api/datasets/{dataset}/subruns/{run}/{subrun}", get(api::subrun))
        .route("/api/datasets/{dataset}/intervals", get(api::intervals))
        .route("/api/datasets/{dataset}/crystals/{calo}/{xtal}", get(api::crystal))
        .route("/api/datasets/{dataset}/cuts", get(api::base_cuts))
        .route("/api/datasets/{dataset}/tune", post(api::tune))
        .route("/api/cuts", post(api::save_cuts))
        .route("/api/tags", get(api::tags))
        .route("/api/tags/{tag}/lock", post(api::lock_tag))
        .route("/api/audit", get(api::audit))
        .fallback(api::not_found)
        .layer(axum::middleware::map_response(api::security_headers))
        .with_state(app)
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
pub fn run(cfg: ServeConfig, threads: Option<usize>, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e} (choose another address with --listen)", cfg.listen))?;
        let addr = listener.local_addr()?;
        let app = App::new(cfg);
        ready(addr);
        axum::serve(listener, router(app)).with_graceful_shutdown(shutdown()).await?;
        Ok(())
    })
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
