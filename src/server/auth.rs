//! Who is asking, and whether they may.
//!
//! Three ways in, checked in this order:
//! 1. `Authorization: Bearer TOKEN`: a token made by `gm2dqc serve user add`; an
//!    unknown token is 401 (never anonymous).
//! 2. The `gm2dqc_token` cookie the sign-in page sets (HttpOnly, SameSite=Strict).
//! 3. When configured (`--trust-header NAME`), a header set by the reverse proxy in
//!    front (the site's SSO): the user named there, with their role if they have an
//!    account, else reader.
//!
//! Anything else is anonymous: it may read unless `--no-anonymous`.
//!
//! Writes need the role, and, for the two ambient ways (cookie, proxy header), the
//! CSRF token in `X-CSRF-Token`: a cross-site form or script cannot send that header
//! with the right value. For a cookie the CSRF token is derived from the sign-in token
//! (so every `serve` process on one database accepts it); for a proxy header from the
//! server's secret and the user. A bearer token is not ambient (the browser never
//! adds it), so it needs no CSRF token.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::db::users::{self, Role, User};
use crate::db::Backend;

use super::error::ApiError;

pub const COOKIE: &str = "gm2dqc_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Cookie(String),
    Header,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ident {
    Anonymous,
    User { user: User, via: Via },
}

impl Ident {
    pub fn name(&self) -> Option<&str> {
        match self {
            Ident::Anonymous => None,
            Ident::User { user, .. } => Some(&user.name),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Ident::Anonymous => None,
            Ident::User { user, .. } => Some(user.role),
        }
    }
}

/// What the server was told about authentication.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub anonymous_read: bool,
    /// The reverse proxy's user header (lowercase), when trusted.
    pub trust_header: Option<String>,
    /// The secret the proxy-header users' CSRF tokens derive from.
    pub secret: [u8; 32],
}

fn bearer(headers: &HeaderMap) -> Option<Result<String, ApiError>> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?;
    let s = match v.to_str() {
        Ok(s) => s.trim(),
        Err(_) => return Some(Err(ApiError::unauthorized("the Authorization header is not text: send `Authorization: Bearer TOKEN`"))),
    };
    match s.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => Some(Ok(t.trim().to_string())),
        _ => Some(Err(ApiError::unauthorized("the Authorization header must be `Bearer TOKEN` (a token from `gm2dqc serve user add`)"))),
    }
}

/// The value of cookie `name`, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_string())
    })
}

/// Who sent the request. Runs on a blocking thread (it reads the accounts).
pub fn identify(b: &mut dyn Backend, cfg: &AuthConfig, headers: &HeaderMap) -> Result<Ident, ApiError> {
    if let Some(t) = bearer(headers) {
        let t = t?;
        return match users::authenticate(b, &t)? {
            Some(user) => Ok(Ident::User { user, via: Via::Bearer }),
            None => Err(ApiError::unauthorized("this token is not known (it may have been removed): ask an expert for a new one with `gm2dqc serve user add`")),
        };
    }
    if let Some(t) = cookie(headers, COOKIE) {
        if let Some(user) = users::authenticate(b, &t)? {
            return Ok(Ident::User { user, via: Via::Cookie(t) });
        }
    }
    if let Some(h) = &cfg.trust_header {
        if let Some(name) = headers.get(h.as_str()).and_then(|v| v.to_str().ok()).map(str::trim).filter(|n| !n.is_empty()) {
            let user = users::user(b, name)?.unwrap_or(User { name: name.to_string(), role: Role::Reader });
            return Ok(Ident::User { user, via: Via::Header });
        }
    }
    Ok(Ident::Anonymous)
}

/// The CSRF token of a signed-in browser session (`None` for bearer and anonymous).
pub fn csrf_token(cfg: &AuthConfig, ident: &Ident) -> Option<String> {
    let mut h = Sha256::new();
    match ident {
        Ident::User { via: Via::Cookie(t), .. } => {
            h.update(b"gm2dqc-csrf-cookie\0");
            h.update(t.as_bytes());
        }
        Ident::User { via: Via::Header, user } => {
            h.update(b"gm2dqc-csrf-header\0");
            h.update(cfg.secret);
            h.update(user.name.as_bytes());
        }
        _ => return None,
    }
    Some(crate::checksum::hex(&h.finalize()[..16]))
}

/// Reads are refused to anonymous requests when anonymous reading is off.
pub fn may_read(cfg: &AuthConfig, ident: &Ident) -> Result<(), ApiError> {
    if ident == &Ident::Anonymous && !cfg.anonymous_read {
        return Err(ApiError::unauthorized("this server does not allow anonymous reading: sign in (/login) or send `Authorization: Bearer TOKEN`"));
    }
    Ok(())
}

/// A write by `ident` needing `role`: 401 anonymous, 403 a smaller role or a missing
/// or wrong CSRF token.
pub fn may_write(cfg: &AuthConfig, ident: &Ident, role: Role, headers: &HeaderMap, what: &str) -> Result<User, ApiError> {
    let Ident::User { user, via } = ident else {
        return Err(ApiError::unauthorized(format!("{what} needs a signed-in {} (sign in at /login, or send `Authorization: Bearer TOKEN`)", role.as_str())));
    };
    if user.role < role {
        return Err(ApiError::forbidden(format!("{what} needs the {} role; {} has the {} role (an expert can change it with `gm2dqc serve user add`)", role.as_str(), user.name, user.role.as_str())));
    }
    if *via != Via::Bearer {
        let want = csrf_token(cfg, ident).unwrap_or_default();
        let got = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !constant_time_eq(want.as_bytes(), got.as_bytes()) {
            return Err(ApiError::forbidden("the CSRF token is missing or wrong (X-CSRF-Token): reload the page and try again"));
        }
    }
    Ok(user.clone())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes from the operating system.
pub fn random_secret() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut s = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut s)?;
    Ok(s)
}
