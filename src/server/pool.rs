//! Connections to the conditions database for the server: a few kept open and
//! reused, each used by one blocking task at a time (the database code is
//! synchronous; it runs on tokio's blocking threads, never on the request threads).
//!
//! A connection whose last use failed in the backend (the server went away, the file
//! was removed) is dropped, not returned: the next request opens a new one, so the
//! server recovers by itself once the database is back.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::db::{self, Backend, DbError};

use super::error::ApiError;

/// At most this many connections are open at once; further requests wait for one.
pub const MAX_CONNECTIONS: usize = 16;

pub struct Pool {
    url: String,
    idle: Mutex<Vec<Box<dyn Backend>>>,
    permits: Semaphore,
}

impl Pool {
    pub fn new(url: &str) -> Pool {
        Pool { url: url.to_string(), idle: Mutex::new(Vec::new()), permits: Semaphore::new(MAX_CONNECTIONS) }
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
            // A kept connection whose database went away is dropped, not used.
            let taken = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop().and_then(|mut c| c.alive().then_some(c));
            let mut conn = match taken {
                Some(c) => c,
                None => db::open_existing(&pool.url).map_err(ApiError::from)?,
            };
            let r = f(conn.as_mut());
            if !matches!(&r, Err(e) if e.unavailable) {
                pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            }
            r
        })
        .await
        .map_err(|e| ApiError::internal(format!("a database task failed: {e}")))?
    }
}

impl Drop for Pool {
    /// The kept connections are closed on a plain thread: the PostgreSQL client runs
    /// its own small runtime to close, which must not happen inside tokio's.
    fn drop(&mut self) {
        let conns = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !conns.is_empty() {
            let _ = std::thread::spawn(move || drop(conns)).join();
        }
    }
}

/// Whether a database error means the database cannot be reached (or read) now,
/// rather than a refusal: answered 503 with Retry-After.
pub fn is_unavailable(e: &DbError) -> bool {
    matches!(e, DbError::Backend(_) | DbError::NoDatabase(_) | DbError::NoSchema(_) | DbError::Damaged { .. })
}
