//! Errors as HTTP answers: a status, a message that says what to do, JSON for the
//! API (`{"error": "...", "status": 503}`) and an HTML page for the pages. A database
//! that cannot be reached is 503 with `Retry-After`, never a 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::db::board::BoardError;
use crate::db::users::UserError;
use crate::db::DbError;

use super::html::{esc, page_shell};
use super::pool::is_unavailable;

/// Seconds a client is asked to wait before retrying a 503.
pub const RETRY_AFTER_S: u32 = 5;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The database could not be reached: 503, and the connection is dropped.
    pub unavailable: bool,
    /// Answer as an HTML page (a page handler), else JSON.
    pub page: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), unavailable: false, page: false }
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, m)
    }
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, m)
    }
    pub fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, m)
    }
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }
    pub fn unavailable(m: impl Into<String>) -> ApiError {
        ApiError { unavailable: true, ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m) }
    }
    /// The same error, answered as a page.
    pub fn page(mut self) -> ApiError {
        self.page = true;
        self
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        if is_unavailable(&e) {
            return ApiError::unavailable(format!("The conditions database is not available now ({e}); the page retries by itself."));
        }
        match e {
            DbError::NoTag { .. } | DbError::NoFolder { .. } => ApiError::not_found(e.to_string()),
            DbError::TagLocked(_) => ApiError::conflict(e.to_string()),
            DbError::Query(_) => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> ApiError {
        match e {
            UserError::Db(d) => d.into(),
            UserError::Random(_) => ApiError::internal(e.to_string()),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl From<crate::results::QueryError> for ApiError {
    fn from(e: crate::results::QueryError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<BoardError> for ApiError {
    fn from(e: BoardError) -> ApiError {
        match e {
            BoardError::Db(d) => d.into(),
            BoardError::Audit(u) => u.into(),
            BoardError::UnknownDataset { .. } | BoardError::UnknownColumn { .. } => ApiError::not_found(e.to_string()),
            BoardError::SignOff { .. } => ApiError::forbidden(e.to_string()),
            BoardError::StillHeld { .. } | BoardError::DatasetHeld(_) | BoardError::ReleaseNeedsNote(_) => ApiError::conflict(e.to_string()),
            BoardError::BadEntry { .. } | BoardError::Layout(_) => ApiError::internal(e.to_string()),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = if self.page {
            let body = format!("<h1>{} {}</h1><p class=\"error\">{}</p><p><a href=\"/\">Back to the board</a></p>", self.status.as_u16(), esc(self.status.canonical_reason().unwrap_or("")), esc(&self.message));
            (self.status, axum::response::Html(page_shell("gm2dqc: error", "", &body, &[]))).into_response()
        } else {
            (self.status, axum::Json(serde_json::json!({"error": self.message, "status": self.status.as_u16()}))).into_response()
        };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
        }
        if self.status == StatusCode::UNAUTHORIZED && !self.page {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gm2dqc\""));
        }
        r
    }
}
