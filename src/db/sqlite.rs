//! The embedded backend: one SQLite file (rusqlite, SQLite compiled in). Write
//! transactions are `BEGIN IMMEDIATE`, so concurrent writers queue on the database
//! lock (with a busy timeout) instead of failing half-way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use super::payload::Value;
use super::schema::{ColType, Dialect};
use super::{Backend, DbError, Result, Tx};

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    /// (device, inode) of the file when opened ([`Backend::alive`]).
    file_id: Option<(u64, u64)>,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn err(e: rusqlite::Error) -> DbError {
    DbError::Backend(e.to_string())
}

/// An error of a statement on the file at `path`: a damaged file is named as such.
fn err_at(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => DbError::Damaged { location: path.display().to_string(), detail: e.to_string() },
        _ => DbError::Backend(e.to_string()),
    }
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Backend(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| DbError::Backend(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err_at(path))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err_at(path))?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err_at(path))?;
        Ok(Sqlite { conn, path: path.to_path_buf(), file_id: file_id(path) })
    }

    /// Opens a database file that exists, never creating one (nor its directory) and
    /// writing nothing: a missing path is [`DbError::NoDatabase`].
    pub fn open_existing(path: &Path) -> Result<Self> {
        let missing = || DbError::NoDatabase(path.to_path_buf());
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Err(missing()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(DbError::Backend(format!("{}: {e}", path.display()))),
        }
        // No SQLITE_OPEN_CREATE: a file removed since the check is not made again.
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::CannotOpen) if !path.exists() => missing(),
            _ => DbError::Backend(format!("{}: {e}", path.display())),
        })?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err_at(path))?;
        Ok(Sqlite { conn, path: path.to_path_buf(), file_id: file_id(path) })
    }
}

impl Backend for Sqlite {
    fn begin(&mut self, write: bool) -> Result<Box<dyn Tx + '_>> {
        let behavior = if write { TransactionBehavior::Immediate } else { TransactionBehavior::Deferred };
        let path = self.path.as_path();
        Ok(Box::new(SqliteTx(self.conn.transaction_with_behavior(behavior).map_err(err_at(path))?, path)))
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn alive(&mut self) -> bool {
        self.file_id.is_some() && file_id(&self.path) == self.file_id
    }
}

struct SqliteTx<'c>(Transaction<'c>, &'c Path);

/// `$N` placeholders as SQLite's `?N`.
fn sql(s: &str) -> String {
    s.replace('$', "?")
}

fn bind(v: &Value) -> SqlValue {
    match v {
        Value::Null(_) => SqlValue::Null,
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Real(x) => SqlValue::Real(*x),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Text(s) => SqlValue::Text(s.clone()),
    }
}

fn read(v: SqlValue, t: ColType) -> Value {
    match (v, t) {
        (SqlValue::Null, t) => Value::Null(t),
        (SqlValue::Integer(i), ColType::Bool) => Value::Bool(i != 0),
        (SqlValue::Integer(i), ColType::Real) => Value::Real(i as f64),
        (SqlValue::Integer(i), _) => Value::Int(i),
        (SqlValue::Real(x), _) => Value::Real(x),
        (SqlValue::Text(s), _) => Value::Text(s),
        (SqlValue::Blob(b), _) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
    }
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, s: &str, params: &[Value]) -> Result<u64> {
        let path = self.1;
        let p: Vec<SqlValue> = params.iter().map(bind).collect();
        Ok(self.0.execute(&sql(s), rusqlite::params_from_iter(p)).map_err(err_at(path))? as u64)
    }

    fn query(&mut self, s: &str, params: &[Value], types: &[ColType]) -> Result<Vec<Vec<Value>>> {
        let path = self.1;
        let p: Vec<SqlValue> = params.iter().map(bind).collect();
        let mut stmt = self.0.prepare(&sql(s)).map_err(err_at(path))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(p), |row| (0..types.len()).map(|i| row.get::<_, SqlValue>(i).map(|v| read(v, types[i]))).collect::<rusqlite::Result<Vec<Value>>>())
            .map_err(err_at(path))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err_at(path))
    }

    fn bulk_insert(&mut self, table: &str, columns: &[(String, ColType)], rows: &mut dyn Iterator<Item = Vec<Value>>) -> Result<u64> {
        let path = self.1;
        let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let mut stmt = self.0.prepare_cached(&format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), marks.join(", "))).map_err(err_at(path))?;
        let mut n = 0;
        for r in rows {
            stmt.execute(rusqlite::params_from_iter(r.iter().map(bind))).map_err(err_at(path))?;
            n += 1;
        }
        Ok(n)
    }

    fn now_us(&mut self) -> Result<i64> {
        Ok(super::time::now_us())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let path = self.1;
        self.0.commit().map_err(err_at(path))
    }
}
