//! Connections to the conditions database for the server: a few kept open and
//! reused, each used by one blocking task at a time (the database code is
//! synchronous; it runs on tokio's blocking threads, never on the request threads).
//!
//! A connection whose last use failed in the backend (the server went away, the file
//! was removed) is dropped, not returned: the next request opens a new one, so the
//! server recovers by itself once the database is back. A SQLite connection also
//! keeps its file open after the file was renamed or removed (it would go on reading
//! and writing a file nobody else sees), so before reusing one the pool checks that
//! the path still names the file the connection opened (device and inode); when not,
//! every idle connection is dropped and a new one opened, which fails (503) while the
//! file is away.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::db::{self, Backend, DbError};

use super::error::ApiError;

/// At most this many connections are open at once; further requests wait for one.
pub const MAX_CONNECTIONS: usize = 16;

pub struct Pool {
    url: String,
    /// The SQLite file's path (None for PostgreSQL).
    file: Option<std::path::PathBuf>,
    /// Idle connections, with the file identity (device, inode) each one opened.
    idle: Mutex<Vec<(Box<dyn Backend>, Option<(u64, u64)>)>>,
    permits: Semaphore,
}

/// The (device, inode) of the file at `p`, None when there is none.
fn file_id(p: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

impl Pool {
    pub fn new(url: &str) -> Pool {
        let file = (!(url.starts_with("postgres://") || url.starts_with("postgresql://"))).then(|| std::path::PathBuf::from(url.strip_prefix("sqlite:").unwrap_or(url)));
        Pool { url: url.to_string(), file, idle: Mutex::new(Vec::new()), permits: Semaphore::new(MAX_CONNECTIONS) }
    }

    /// Where the database is, for messages (no password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `f` with a connection on a blocking thread. An error of `f` that is the
    /// backend's own ([`is_unavailable`]) drops the connection and answers 503.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Backend) -> Result<T, ApiError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| ApiError::internal("the connection pool is closed"))?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let now = pool.file.as_deref().and_then(file_id);
            let taken = {
                let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
                if pool.file.is_some() && idle.iter().any(|(_, id)| *id != now || now.is_none()) {
                    idle.clear(); // the file was renamed, removed or replaced
                }
                idle.pop()
            };
            let (mut conn, id) = match taken {
                Some(c) => c,
                None => {
                    let c = db::open_existing(&pool.url).map_err(ApiError::from)?;
                    (c, now)
                }
            };
            let r = f(conn.as_mut());
            if !matches!(&r, Err(e) if e.unavailable) {
                pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push((conn, id));
            }
            r
        })
        .await
        .map_err(|e| ApiError::internal(format!("a database task failed: {e}")))?
    }
}

/// Whether a database error means the database cannot be reached (or read) now,
/// rather than a refusal: answered 503 with Retry-After.
pub fn is_unavailable(e: &DbError) -> bool {
    matches!(e, DbError::Backend(_) | DbError::NoDatabase(_) | DbError::NoSchema(_) | DbError::Damaged { .. })
}
