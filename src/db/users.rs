//! The web application's users and its audit record (migration 4), for every face:
//! the command line adds and removes users, the web server authenticates them and
//! records what they did.
//!
//! # Tokens
//!
//! [`add_user`] makes a token `gm2.<NAME>.<SECRET>`: `NAME` the user's name and
//! `SECRET` 32 random bytes (from `/dev/urandom`), both base64url without padding
//! (`.` is not in that alphabet, so the token splits unambiguously). The token is
//! shown once, to whoever added the user, and never stored: `web_users` keeps a
//! random 16-byte salt (hex) and `token_hash`, the hex SHA-256 of the salt's 16 bytes
//! followed by the token's text. [`authenticate`] reads the name from the token,
//! looks that one user up, and compares the hashes in constant time.
//!
//! # Roles
//!
//! [`Role`]: `reader` < `shifter` < `expert`; a role may do everything a lower one
//! may ([`Role::allows`]). What each role may do is the web application's rule.
//!
//! # Audit
//!
//! `web_audit` is append-only (no UPDATE, DELETE, replacing insert or TRUNCATE, by
//! trigger). [`audit`] appends one entry in a transaction of its own, [`audit_in`]
//! inside the caller's, so a write and its record are one atomic step; a board set
//! carries its entry in [`super::board::SetRequest::audited`].

use std::fmt;
use std::io::Read;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::payload::Value;
use super::schema::ColType;
use super::{Backend, DbError, Tx};

/// The longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The token's first part.
pub const TOKEN_PREFIX: &str = "gm2";

/// What a user of the web application may do; ordered (`Reader < Shifter < Expert`).
/// JSON and storage: `"reader"`, `"shifter"`, `"expert"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads the board, the plots and the constants.
    Reader,
    /// And sets board cells, signs off, runs the shift's stages.
    Shifter,
    /// And edits cut files and locks tags.
    Expert,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Shifter, Role::Expert];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Shifter => "shifter",
            Role::Expert => "expert",
        }
    }

    /// Reads a role case-insensitively (surrounding spaces ignored).
    pub fn parse(s: &str) -> std::result::Result<Role, UserError> {
        let t = s.trim();
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(t)).ok_or_else(|| UserError::UnknownRole(s.to_string()))
    }

    /// Whether this role may do what `needed` may (an expert all a shifter may).
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    /// The roles' names, for messages.
    pub fn names() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = UserError;
    fn from_str(s: &str) -> std::result::Result<Role, UserError> {
        Role::parse(s)
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Role, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An authenticated user. JSON: `{"name": "alice", "role": "shifter"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
}

/// A user as listed ([`users`]). JSON: `{"name": "alice", "role": "shifter",
/// "created_at_us": ..., "created_at": "2026-12-01T00:00:00.000000Z", "created_by": "bob"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub created_at_us: i64,
    pub created_at: String,
    pub created_by: String,
}

/// One write made through the web application, as [`audit`] records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Who (the authenticated user's name).
    pub user: String,
    /// With which role.
    pub role: Role,
    /// What: e.g. `board.set`, `cuts.save`, `board.signoff`, `tag.lock`.
    pub action: String,
    /// On what: e.g. `run3B/subrun_dqc`, a cut file's path, a tag.
    pub target: String,
    /// The rest: the new state and note, a hash, ...
    pub detail: String,
    /// Where from (the client's address as the web server saw it).
    pub remote: String,
}

/// One entry of the audit record ([`audit_log`]). JSON: `{"id": 7, "at_us": ...,
/// "at": "...", "user": "alice", "role": "shifter", "action": "board.set", "target":
/// "run3B/subrun_dqc", "detail": "done", "remote": "10.0.0.7"}`; `role` is the text
/// stored (a role this build does not know is shown as it is).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at_us: i64,
    pub at: String,
    pub user: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub remote: String,
}

/// Why a user operation was refused or failed. Nothing is written when one fails.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unknown role `{0}`; roles: {list}", list = Role::names())]
    UnknownRole(String),
    #[error("{name:?} cannot be a user name: {why}; a name is 1 to {MAX_NAME_CHARS} printable characters without spaces (e.g. a login name)")]
    BadName { name: String, why: &'static str },
    #[error("a user `{0}` exists already: to give them a new token or role, remove the user, then add them again")]
    Exists(String),
    #[error("the {what} {text:?} {why}")]
    BadText { what: &'static str, text: String, why: &'static str },
    #[error("no random bytes from /dev/urandom ({0}): a token cannot be made on this machine")]
    Random(std::io::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub type Result<T> = std::result::Result<T, UserError>;

/// A user name the web application accepts: 1 to [`MAX_NAME_CHARS`] characters,
/// none of them whitespace or a control character, and not the board's own name.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why| Err(UserError::BadName { name: name.to_string(), why });
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return bad("it is too long");
    }
    if name.chars().any(char::is_whitespace) {
        return bad("it contains whitespace");
    }
    if name.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    if name == super::board::BOARD_USER {
        return bad("it is the name the board writes its own entries under");
    }
    Ok(())
}

fn check_text(what: &'static str, text: &str, required: bool) -> Result<()> {
    if required && text.trim().is_empty() {
        return Err(UserError::BadText { what, text: text.to_string(), why: "is empty: say it" });
    }
    if text.contains('\0') {
        return Err(UserError::BadText { what, text: text.to_string(), why: "contains a NUL character, which the database cannot store: remove it" });
    }
    Ok(())
}

/// `n` bytes from the kernel's random source.
fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut v)).map_err(UserError::Random)?;
    Ok(v)
}

/// The stored hash of a token: hex SHA-256 of the salt's bytes, then the token's text.
fn token_hash(salt: &[u8], token: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(token.as_bytes());
    crate::checksum::hex(&h.finalize())
}

/// Equal bytes, in a time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The user name a token names (`None` when it is not of the form `gm2.NAME.SECRET`).
pub fn token_user(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (Some(TOKEN_PREFIX), Some(name), Some(secret), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return None };
    if secret.is_empty() {
        return None;
    }
    String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()
}

fn need_4(tx: &mut dyn Tx, location: &str) -> Result<()> {
    Ok(super::require_version(tx, 4, "the web application's users and audit record", location)?)
}

/// Adds a user with `role`, created by `created_by`; returns the user's token, which
/// is shown once and never stored (only a salt and the salted hash are). Refuses a
/// name that is not valid ([`check_name`]) or that a user has already
/// ([`UserError::Exists`]).
pub fn add_user(b: &mut dyn Backend, name: &str, role: Role, created_by: &str) -> Result<String> {
    check_name(name)?;
    check_text("creator's name", created_by, true)?;
    let salt = random_bytes(16)?;
    let token = format!("{TOKEN_PREFIX}.{}.{}", URL_SAFE_NO_PAD.encode(name.as_bytes()), URL_SAFE_NO_PAD.encode(random_bytes(32)?));
    let hash = token_hash(&salt, &token);
    let location = b.location();
    let mut tx = b.begin(true)?;
    need_4(tx.as_mut(), &location)?;
    let now = tx.now_us()?;
    let t = |s: &str| Value::Text(s.to_string());
    let n = tx.exec(
        "INSERT INTO web_users (name, role, salt, token_hash, created_at_us, created_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        &[t(name), t(role.as_str()), t(&crate::checksum::hex(&salt)), t(&hash), Value::Int(now), t(created_by)],
    )?;
    if n != 1 {
        return Err(UserError::Exists(name.to_string()));
    }
    tx.commit()?;
    Ok(token)
}

/// Removes a user (their token no longer authenticates); false when there was none.
pub fn remove_user(b: &mut dyn Backend, name: &str) -> Result<bool> {
    let location = b.location();
    let mut tx = b.begin(true)?;
    need_4(tx.as_mut(), &location)?;
    let n = tx.exec("DELETE FROM web_users WHERE name = $1", &[Value::Text(name.to_string())])?;
    tx.commit()?;
    Ok(n > 0)
}

/// Every user, sorted by name (byte order). A row whose role this build does not know
/// is left out, with a warning.
pub fn users(b: &mut dyn Backend) -> Result<Vec<UserInfo>> {
    let location = b.location();
    let mut tx = b.begin(false)?;
    need_4(tx.as_mut(), &location)?;
    let rows = tx.query("SELECT name, role, created_at_us, created_by FROM web_users", &[], &[ColType::Text, ColType::Text, ColType::Int, ColType::Text])?;
    let mut v: Vec<UserInfo> = rows
        .into_iter()
        .filter_map(|r| {
            let name = r[0].as_str().unwrap_or_default().to_string();
            let role = known_role(&name, r[1].as_str().unwrap_or_default())?;
            let at = r[2].as_i64().unwrap_or(0);
            Some(UserInfo { name, role, created_at_us: at, created_at: super::time::format_us(at), created_by: r[3].as_str().unwrap_or_default().to_string() })
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

fn known_role(name: &str, role: &str) -> Option<Role> {
    match Role::parse(role) {
        Ok(r) => Some(r),
        Err(_) => {
            tracing::warn!(user = name, role, "web_users: a role this gm2dqc does not know; the user is refused");
            None
        }
    }
}

/// The user of that name, for a trusted reverse proxy's header (`None`: no such user).
pub fn user(b: &mut dyn Backend, name: &str) -> Result<Option<User>> {
    let location = b.location();
    let mut tx = b.begin(false)?;
    need_4(tx.as_mut(), &location)?;
    let rows = tx.query("SELECT name, role FROM web_users WHERE name = $1", &[Value::Text(name.to_string())], &[ColType::Text, ColType::Text])?;
    Ok(rows.first().and_then(|r| known_role(name, r[1].as_str().unwrap_or_default()).map(|role| User { name: name.to_string(), role })))
}

/// The user a token belongs to, or `None`: a token not of the form, of no user, or
/// whose hash is not the one stored (compared in constant time). Never an error for a
/// wrong token; only the database's own failures are errors.
pub fn authenticate(b: &mut dyn Backend, token: &str) -> Result<Option<User>> {
    let Some(name) = token_user(token) else { return Ok(None) };
    let location = b.location();
    let mut tx = b.begin(false)?;
    need_4(tx.as_mut(), &location)?;
    let rows = tx.query("SELECT role, salt, token_hash FROM web_users WHERE name = $1", &[Value::Text(name.clone())], &[ColType::Text, ColType::Text, ColType::Text])?;
    let Some(r) = rows.first() else {
        // As much work as for a user that exists.
        let _ = token_hash(&[0; 16], token);
        return Ok(None);
    };
    let Some(salt) = hex_decode(r[1].as_str().unwrap_or_default()) else {
        tracing::warn!(user = name, "web_users: the stored salt is not hex; the user is refused");
        return Ok(None);
    };
    if !constant_time_eq(token_hash(&salt, token).as_bytes(), r[2].as_str().unwrap_or_default().as_bytes()) {
        return Ok(None);
    }
    Ok(known_role(&name, r[0].as_str().unwrap_or_default()).map(|role| User { name, role }))
}

/// Appends `e` to the audit record, in a transaction of its own.
pub fn audit(b: &mut dyn Backend, e: &AuditEntry) -> Result<()> {
    let location = b.location();
    let mut tx = b.begin(true)?;
    need_4(tx.as_mut(), &location)?;
    audit_in(tx.as_mut(), e)?;
    tx.commit()?;
    Ok(())
}

/// Appends `e` to the audit record inside the caller's transaction: the write it
/// records and the record commit together or not at all.
pub fn audit_in(tx: &mut dyn Tx, e: &AuditEntry) -> Result<()> {
    check_text("audited user's name", &e.user, true)?;
    check_text("audited action", &e.action, true)?;
    check_text("audited target", &e.target, false)?;
    check_text("audit detail", &e.detail, false)?;
    check_text("remote address", &e.remote, false)?;
    let now = tx.now_us()?;
    let t = |s: &str| Value::Text(s.to_string());
    tx.exec(
        "INSERT INTO web_audit (at_us, user_name, role, action, target, detail, remote) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[Value::Int(now), t(&e.user), t(e.role.as_str()), t(&e.action), t(&e.target), t(&e.detail), t(&e.remote)],
    )?;
    Ok(())
}

/// The latest `limit` entries of the audit record, newest first.
pub fn audit_log(b: &mut dyn Backend, limit: usize) -> Result<Vec<AuditRecord>> {
    let location = b.location();
    let mut tx = b.begin(false)?;
    need_4(tx.as_mut(), &location)?;
    let rows = tx.query(
        "SELECT id, at_us, user_name, role, action, target, detail, remote FROM web_audit ORDER BY id DESC LIMIT $1",
        &[Value::Int(i64::try_from(limit).unwrap_or(i64::MAX))],
        &[ColType::Int, ColType::Int, ColType::Text, ColType::Text, ColType::Text, ColType::Text, ColType::Text, ColType::Text],
    )?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok(rows
        .iter()
        .map(|r| {
            let at = r[1].as_i64().unwrap_or(0);
            AuditRecord { id: r[0].as_i64().unwrap_or(0), at_us: at, at: super::time::format_us(at), user: s(&r[2]), role: s(&r[3]), action: s(&r[4]), target: s(&r[5]), detail: s(&r[6]), remote: s(&r[7]) }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_order_and_serialise() {
        assert_eq!(Role::parse(" EXPERT ").unwrap(), Role::Expert);
        assert_eq!(Role::parse("Shifter").unwrap(), Role::Shifter);
        assert!(Role::Expert.allows(Role::Shifter) && Role::Shifter.allows(Role::Reader) && !Role::Reader.allows(Role::Shifter));
        let e = Role::parse("admin").unwrap_err().to_string();
        assert!(e.contains("unknown role `admin`") && e.contains("reader, shifter, expert"), "{e}");
        assert_eq!(serde_json::to_string(&Role::Shifter).unwrap(), "\"shifter\"");
        assert_eq!(serde_json::from_str::<Role>("\"Expert\"").unwrap(), Role::Expert);
    }

    #[test]
    fn names_and_tokens() {
        for ok in ["alice", "a.b-c_d@fnal", "ünïcode", &"x".repeat(64)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "tab\there", "nul\0", "bell\u{7}", &"x".repeat(65), "(board)", "\u{a0}nbsp"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let tok = format!("gm2.{}.{}", URL_SAFE_NO_PAD.encode("a.b"), URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert_eq!(token_user(&tok).as_deref(), Some("a.b"));
        for bad in ["", "gm2", "gm2..", "gm2.YQ.", "xx.YQ.abc", "gm2.YQ.abc.def", "gm2.!!.abc", "gm2./w.abc"] {
            assert_eq!(token_user(bad), None, "{bad:?}");
        }
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
        assert_eq!(hex_decode("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(hex_decode("0g"), None);
        assert_eq!(hex_decode("é0"), None);
    }
}
