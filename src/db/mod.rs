//! The conditions database: constants and subrun flags with explicit intervals of
//! validity, named tags that can be locked, content-addressed immutable payloads,
//! append-only history with "as of" reads, and provenance for every upload.
//!
//! Two backends behind one interface: SQLite (the default, a file in the output
//! directory; no server) and PostgreSQL (`postgres://...`). The logic of uploads and
//! reads is written once here against [`Tx`], a transaction with a few primitive
//! operations that each backend implements; SQL uses `$N` placeholders everywhere and
//! values are always bound, never spliced into the text (the only identifiers in SQL
//! text are the folder table and column names of [`schema`], never user input).

pub mod board;
pub mod condb_files;
pub mod export;
pub mod good;
pub mod payload;
pub mod postgres;
pub mod schema;
pub mod sqlite;
pub mod time;
pub mod users;

use std::collections::BTreeMap;

use payload::{Payload, Value};
use schema::{ColType, Dialect, Folder};

/// Why a database operation failed. Nothing is written when an upload fails.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Backend(String),
    #[error("tag `{0}` is locked: it accepts no more uploads (make a new tag)")]
    TagLocked(String),
    #[error("no tag `{tag}`; known tags: {} (`gm2dqc db tags` lists them)", list_or(.known, "none yet (an upload creates its tag)"))]
    NoTag { tag: String, known: Vec<String> },
    #[error("no folder `{folder}`; folders: {}", .known.join(", "))]
    NoFolder { folder: String, known: Vec<String> },
    #[error("intervals {a} and {b} of one upload overlap")]
    Overlap { a: Iov, b: Iov },
    #[error("payload: {0}")]
    Payload(String),
    #[error("the database has schema version {found}, this gm2dqc reads {expected}: {hint}")]
    Schema { found: i64, expected: i64, hint: &'static str },
    #[error(
        "the database needs migration {version} of gm2dqc's schema, and applying it failed ({detail}); on PostgreSQL only the database's owner \
         can apply it: run `gm2dqc db init` as the owner (the read-only commands work meanwhile)"
    )]
    Migration { version: i64, detail: String },
    #[error("invalid database URL `{0}`: expected postgres://..., postgresql://..., sqlite:PATH or a file path")]
    Url(String),
    #[error("no conditions database at {}: the stages write OUT/conditions.sqlite; give it with --db PATH (or postgres://...) or $GM2DQC_DB", .0.display())]
    NoDatabase(std::path::PathBuf),
    #[error("{0} holds no conditions database (no gm2dqc schema): give the right --db or $GM2DQC_DB, or create one with `gm2dqc db init`")]
    NoSchema(String),
    /// What a read returned is not what was stored: rows missing, or rows that do not
    /// hash to the payload's name. Nothing is returned.
    #[error(
        "damaged conditions data: {folder} in tag `{tag}`, interval {iov}, payload {}: {}; nothing was returned. Restore the database from a backup, \
         or upload the outputs again into a new database (a new tag in this one would share the damaged payload, which is stored once by content)",
        crate::checksum::short_hash(.payload),
        corrupt_problem(*.expected_rows, *.found_rows, .found_hash.as_deref())
    )]
    Corrupt { folder: String, tag: String, iov: Iov, payload: String, expected_rows: Option<i64>, found_rows: usize, found_hash: Option<String> },
    #[error("the database file {location} is damaged ({detail}): restore it from a backup, or upload the outputs again into a new database")]
    Damaged { location: String, detail: String },
    /// A database opened read-only at an older schema lacks what was asked for.
    #[error(
        "{what} needs schema version {needed} of the conditions database, and {location} has version {found}: open it once as a writer \
         (`gm2dqc db init`, on PostgreSQL as the database's owner) to apply the migration"
    )]
    NeedsMigration { what: &'static str, location: String, found: i64, needed: i64 },
    /// A read asked for something the database does not hold in that form (an unknown
    /// dataset or flag of a good-subrun list): the caller's to fix.
    #[error("{0}")]
    Query(String),
}

fn list_or(items: &[String], none: &str) -> String {
    if items.is_empty() { none.to_string() } else { items.join(", ") }
}

fn corrupt_problem(expected: Option<i64>, found: usize, found_hash: Option<&str>) -> String {
    let mut p = match expected {
        None => format!("its payload record is missing ({found} rows read)"),
        Some(n) if n != found as i64 => format!("its payload record says {n} rows, {found} were read"),
        Some(n) => format!("{n} rows as recorded"),
    };
    if let Some(h) = found_hash {
        p.push_str(&format!(", but the rows read hash to {}, not to the payload's name", crate::checksum::short_hash(h)));
    }
    p
}

pub type Result<T> = std::result::Result<T, DbError>;

/// A point of validity: (run, subrun).
pub type Point = (u32, u32);

/// A half-open interval of validity `[first, end)`; `end = None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Iov {
    pub first: Point,
    pub end: Option<Point>,
}

impl Iov {
    /// All subruns of the runs `first..=last`: `[(first, 0), (last + 1, 0))`.
    pub fn runs(first: u32, last: u32) -> Iov {
        Iov { first: (first, 0), end: Some((last + 1, 0)) }
    }

    pub fn contains(&self, p: Point) -> bool {
        self.first <= p && self.end.is_none_or(|e| p < e)
    }

    pub fn overlaps(&self, o: &Iov) -> bool {
        self.end.is_none_or(|e| o.first < e) && o.end.is_none_or(|e| self.first < e)
    }
}

impl std::fmt::Display for Iov {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.end {
            Some(e) => write!(f, "[{}.{}, {}.{})", self.first.0, self.first.1, e.0, e.1),
            None => write!(f, "[{}.{}, open)", self.first.0, self.first.1),
        }
    }
}

/// An input file of an upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl InputFile {
    /// Reads a whole file: its record (path as given, size, SHA-256) and its bytes.
    /// Only a regular file is read, and never past the size it had when opened: a
    /// FIFO, a device (a link to `/dev/zero`) or a file still growing is an error
    /// ([`crate::dataset::read_regular`]), never a hang or unbounded memory.
    pub fn read(path: &std::path::Path) -> std::io::Result<(InputFile, Vec<u8>)> {
        let bytes = crate::dataset::read_regular(path)?;
        let input = InputFile { path: path.display().to_string(), size: bytes.len() as u64, sha256: crate::checksum::sha256_hex(&bytes) };
        Ok((input, bytes))
    }
}

/// Where an upload came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    pub dataset: String,
    pub software_version: String,
    pub git_commit: String,
    pub cuts_sha256: Option<String>,
    pub user: String,
    pub host: String,
    pub command_line: String,
    pub inputs: Vec<InputFile>,
    /// The output directory the upload came from (absolute, canonical), when it came
    /// from one; stored in `uploads.out_dir` (migration 4).
    pub out_dir: Option<String>,
    /// The flags the cut file requires of a good subrun (its `required` list), stored
    /// in `uploads.required_flags` (migration 5); `None` when not known.
    pub required_flags: Option<Vec<String>>,
    /// The flags a subrun had to pass to enter the gain sums (the cut file's
    /// `sum_subruns_passing`; empty: every subrun), stored in `uploads.summed_passing`
    /// (migration 7); `None` when not known.
    pub summed_passing: Option<Vec<String>>,
}

/// This machine's name (the records of uploads, of the board and of campaign shards).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

impl Provenance {
    /// This process: version, commit (from the build), user, host, command line.
    pub fn here(dataset: &str, cuts_sha256: Option<String>, inputs: Vec<InputFile>) -> Self {
        let host = host_name();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .or_else(|| std::process::Command::new("id").arg("-un").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        Provenance {
            dataset: dataset.to_string(),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("GM2DQC_GIT_COMMIT").to_string(),
            cuts_sha256,
            user,
            host,
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            inputs,
            out_dir: None,
            required_flags: None,
            summed_passing: None,
        }
    }

    /// The same, recording `dir` as the output directory the upload comes from:
    /// canonicalized (absolute, links resolved); made absolute only when it cannot be
    /// (it no longer exists), never left relative.
    pub fn with_out_dir(mut self, dir: &std::path::Path) -> Self {
        let abs = std::fs::canonicalize(dir).or_else(|_| std::path::absolute(dir)).unwrap_or_else(|_| dir.to_path_buf());
        self.out_dir = Some(abs.display().to_string());
        self
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadReport {
    /// The upload's id; `None` when nothing new was written.
    pub upload_id: Option<i64>,
    /// Intervals written, and intervals whose content was already current (skipped).
    pub written: usize,
    pub unchanged: usize,
    /// Payloads stored for the first time, and their rows.
    pub new_payloads: usize,
    pub rows: usize,
    /// Gaps between consecutive intervals of the upload.
    pub gaps: Vec<(Point, Point)>,
}

/// One interval of history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IovRecord {
    pub id: i64,
    pub iov: Iov,
    pub payload_hash: String,
    pub upload_id: i64,
    pub inserted_at_us: i64,
    pub nrows: i64,
    pub user: String,
    pub dataset: String,
    pub git_commit: String,
    pub cuts_sha256: Option<String>,
    /// The output directory of the upload (`None` for uploads before migration 4).
    pub out_dir: Option<String>,
    /// The flags the upload's cut file requires of a good subrun (`None` for uploads
    /// before migration 5, and when not known).
    pub required_flags: Option<Vec<String>>,
    /// The flags a subrun had to pass to enter the gain sums (empty: every subrun;
    /// `None` for uploads before migration 7).
    pub summed_passing: Option<Vec<String>>,
}

/// A tag and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TagInfo {
    pub name: String,
    pub description: String,
    pub locked: bool,
    pub created_at_us: i64,
    pub locked_at_us: Option<i64>,
    pub iovs: i64,
}

/// A transaction: the primitive operations each backend provides. SQL uses `$1..$N`.
pub trait Tx {
    fn dialect(&self) -> Dialect;
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Rows of a query, each value read as the given type.
    fn query(&mut self, sql: &str, params: &[Value], types: &[ColType]) -> Result<Vec<Vec<Value>>>;
    /// Inserts many rows into `table` (COPY on PostgreSQL).
    fn bulk_insert(&mut self, table: &str, columns: &[(String, ColType)], rows: &mut dyn Iterator<Item = Vec<Value>>) -> Result<u64>;
    /// The database clock, in microseconds since the Unix epoch.
    fn now_us(&mut self) -> Result<i64>;
    fn commit(self: Box<Self>) -> Result<()>;
}

/// A connection to a conditions database.
/// `Send`: the web server moves connections between its blocking threads.
pub trait Backend: Send {
    /// A transaction; `write` takes the database's write lock up front where the
    /// backend needs it (SQLite: BEGIN IMMEDIATE).
    fn begin(&mut self, write: bool) -> Result<Box<dyn Tx + '_>>;
    /// A human-readable location (path or URL without password).
    fn location(&self) -> String;
    /// Whether the connection still reaches the database it was opened on, checked
    /// cheaply before a kept connection is reused (the web server's pool): PostgreSQL,
    /// the connection is not closed; SQLite, the file at the path is still the one
    /// opened (a file removed or replaced is "gone", not served from the old inode).
    fn alive(&mut self) -> bool {
        true
    }
}

/// Where a URL points.
enum Location<'a> {
    Postgres(&'a str),
    Sqlite(&'a std::path::Path),
}

fn location(url: &str) -> Result<Location<'_>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Location::Postgres(url));
    }
    let path = url.strip_prefix("sqlite:").unwrap_or(url);
    if path.is_empty() {
        return Err(DbError::Url(url.to_string()));
    }
    Ok(Location::Sqlite(std::path::Path::new(path)))
}

/// Opens a database: `postgres://...`/`postgresql://...`, `sqlite:PATH` or a path
/// (created when missing). Applies the migrations that are missing.
pub fn open(url: &str) -> Result<Box<dyn Backend>> {
    let mut b: Box<dyn Backend> = match location(url)? {
        Location::Postgres(u) => Box::new(postgres::Postgres::connect(u)?),
        Location::Sqlite(p) => Box::new(sqlite::Sqlite::open(p)?),
    };
    migrate(b.as_mut())?;
    Ok(b)
}

/// Opens a database that exists, for reading (`db get`, `tags`, `history`, `status`):
/// creates nothing and writes nothing, not even a migration. A SQLite path that is not
/// there is [`DbError::NoDatabase`]; a database without gm2dqc's schema is
/// [`DbError::NoSchema`]; one newer than this build is [`DbError::Schema`]. An older
/// schema is read as it is (migrations only add protections and tables), and gets the
/// missing migrations the next time a writer opens it with [`open`].
pub fn open_existing(url: &str) -> Result<Box<dyn Backend>> {
    let mut b: Box<dyn Backend> = match location(url)? {
        Location::Postgres(u) => Box::new(postgres::Postgres::connect(u)?),
        Location::Sqlite(p) => Box::new(sqlite::Sqlite::open_existing(p)?),
    };
    let found = {
        let mut tx = b.begin(false)?;
        schema_version(tx.as_mut())?
    };
    if found < 1 {
        return Err(DbError::NoSchema(b.location()));
    }
    if found > schema::SCHEMA_VERSION {
        return Err(DbError::Schema { found, expected: schema::SCHEMA_VERSION, hint: "use a newer gm2dqc for this database" });
    }
    Ok(b)
}

/// The schema version of the database a transaction is on (0: no gm2dqc schema).
pub fn schema_version(tx: &mut dyn Tx) -> Result<i64> {
    if !schema_table_exists(tx)? {
        return Ok(0);
    }
    Ok(one_int(tx, "SELECT MAX(version) FROM schema_migrations", &[])?.unwrap_or(0))
}

/// [`DbError::NeedsMigration`] unless the database is at `needed` or later.
pub(crate) fn require_version(tx: &mut dyn Tx, needed: i64, what: &'static str, location: &str) -> Result<()> {
    let found = schema_version(tx)?;
    if found < needed {
        return Err(DbError::NeedsMigration { what, location: location.to_string(), found, needed });
    }
    Ok(())
}

fn schema_table_exists(tx: &mut dyn Tx) -> Result<bool> {
    let n = match tx.dialect() {
        Dialect::Postgres => one_int(tx, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'", &[])?,
        Dialect::Sqlite => one_int(tx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", &[])?,
    };
    Ok(n == Some(1))
}

fn one_int(tx: &mut dyn Tx, sql: &str, params: &[Value]) -> Result<Option<i64>> {
    Ok(tx.query(sql, params, &[ColType::Int])?.into_iter().next().and_then(|r| r[0].as_i64()))
}

/// Creates the schema or checks its version.
pub fn migrate(b: &mut dyn Backend) -> Result<i64> {
    let mut tx = b.begin(true)?;
    let d = tx.dialect();
    if d == Dialect::Postgres {
        // One migrator at a time across processes.
        tx.query("SELECT pg_advisory_xact_lock(7420260001)::text", &[], &[ColType::Text])?;
    }
    // Look before creating: a reader role may not create anything.
    if !schema_table_exists(tx.as_mut())? {
        tx.exec("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_us BIGINT NOT NULL)", &[])?;
    }
    let found = one_int(tx.as_mut(), "SELECT MAX(version) FROM schema_migrations", &[])?.unwrap_or(0);
    if found > schema::SCHEMA_VERSION {
        return Err(DbError::Schema { found, expected: schema::SCHEMA_VERSION, hint: "use a newer gm2dqc for this database" });
    }
    for (version, statements) in schema::migrations(d) {
        if found < version {
            for stmt in statements {
                tx.exec(&stmt, &[]).map_err(|e| match e {
                    DbError::Backend(detail) => DbError::Migration { version, detail },
                    other => other,
                })?;
            }
            let now = tx.now_us()?;
            tx.exec("INSERT INTO schema_migrations (version, applied_at_us) VALUES ($1, $2)", &[Value::Int(version), Value::Int(now)])?;
        }
    }
    tx.commit()?;
    Ok(schema::SCHEMA_VERSION)
}

fn folder_or_err(name: &str) -> Result<Folder> {
    schema::folder(name).ok_or_else(|| DbError::NoFolder { folder: name.to_string(), known: schema::folders().iter().map(|f| f.name.to_string()).collect() })
}

/// The folder as the database a transaction is on has it: a database read as it is,
/// before the migration that created the folder, is [`DbError::NeedsMigration`]; before
/// one that added columns to it, the folder without them (its payloads have none).
fn folder_in(tx: &mut dyn Tx, name: &str, location: String) -> Result<Folder> {
    let full = folder_or_err(name)?;
    let Some(changed) = schema::changed_in(full.name) else { return Ok(full) };
    let version = schema_version(tx)?;
    if version >= changed {
        return Ok(full);
    }
    match schema::folders_at(version).into_iter().find(|f| f.name == full.name) {
        Some(f) => Ok(f),
        None => Err(DbError::NeedsMigration { what: full.name, location, found: version, needed: changed }),
    }
}

/// [`DbError::NoTag`] for `tag`, with the tags there are.
fn no_tag(tx: &mut dyn Tx, tag: &str) -> Result<DbError> {
    let known = tx.query("SELECT name FROM tags ORDER BY name", &[], &[ColType::Text])?;
    Ok(DbError::NoTag { tag: tag.to_string(), known: known.into_iter().filter_map(|r| r[0].as_str().map(str::to_string)).collect() })
}

/// A read that found no interval: `None`, or [`DbError::NoTag`] when the tag is unknown.
fn nothing_covers<T>(tx: &mut dyn Tx, tag: &str) -> Result<Option<T>> {
    if !tag_exists(tx, tag)? {
        return Err(no_tag(tx, tag)?);
    }
    Ok(None)
}

fn tag_exists(tx: &mut dyn Tx, tag: &str) -> Result<bool> {
    Ok(one_int(tx, "SELECT COUNT(*) FROM tags WHERE name = $1", &[Value::Text(tag.into())])? == Some(1))
}

fn iov_params(iov: &Iov) -> [Value; 4] {
    let (er, es) = match iov.end {
        Some((r, s)) => (Value::Int(r.into()), Value::Int(s.into())),
        None => (Value::Null(ColType::Int), Value::Null(ColType::Int)),
    };
    [Value::Int(iov.first.0.into()), Value::Int(iov.first.1.into()), er, es]
}

fn iov_from(row: &[Value]) -> Iov {
    let p = |i: usize| row[i].as_i64().map(|x| x as u32);
    Iov { first: (p(0).unwrap_or(0), p(1).unwrap_or(0)), end: p(2).zip(p(3)) }
}

/// Creates a tag when it does not exist yet.
pub fn create_tag(b: &mut dyn Backend, name: &str, description: &str) -> Result<bool> {
    let mut tx = b.begin(true)?;
    let created = ensure_tag(tx.as_mut(), name, description)?;
    tx.commit()?;
    Ok(created)
}

/// Inserts the tag unless it exists; true when it was created. Never an insert that
/// conflicts (SQLite's triggers refuse those, migration 3): `WHERE NOT EXISTS` is exact
/// under SQLite's write lock; on PostgreSQL `ON CONFLICT` covers a concurrent creation.
fn ensure_tag(tx: &mut dyn Tx, name: &str, description: &str) -> Result<bool> {
    let now = tx.now_us()?;
    let n = tx.exec(
        "INSERT INTO tags (name, description, created_at_us) SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS BIGINT) \
         WHERE NOT EXISTS (SELECT 1 FROM tags WHERE name = $1) ON CONFLICT (name) DO NOTHING",
        &[Value::Text(name.into()), Value::Text(description.into()), Value::Int(now)],
    )?;
    Ok(n == 1)
}

/// Locks a tag: it refuses every later upload. Locking twice is not an error.
pub fn lock_tag(b: &mut dyn Backend, name: &str) -> Result<bool> {
    let mut tx = b.begin(true)?;
    let locked = tx.query("SELECT locked FROM tags WHERE name = $1", &[Value::Text(name.into())], &[ColType::Bool])?;
    let Some(row) = locked.first() else { return Err(no_tag(tx.as_mut(), name)?) };
    if row[0] == Value::Bool(true) {
        return Ok(false);
    }
    let now = tx.now_us()?;
    tx.exec("UPDATE tags SET locked = $1, locked_at_us = $2 WHERE name = $3", &[Value::Bool(true), Value::Int(now), Value::Text(name.into())])?;
    tx.commit()?;
    Ok(true)
}

/// Whether a tag is locked (`None`: no such tag), in one small query. Read before a
/// read that is to be cached for good: a tag locked then gets no later upload.
pub fn tag_locked(b: &mut dyn Backend, name: &str) -> Result<Option<bool>> {
    let mut tx = b.begin(false)?;
    let rows = tx.query("SELECT locked FROM tags WHERE name = $1", &[Value::Text(name.into())], &[ColType::Bool])?;
    Ok(rows.first().map(|r| r[0] == Value::Bool(true)))
}

/// Every tag.
pub fn tags(b: &mut dyn Backend) -> Result<Vec<TagInfo>> {
    let mut tx = b.begin(false)?;
    let rows = tx.query(
        "SELECT t.name, t.description, t.locked, t.created_at_us, t.locked_at_us, (SELECT COUNT(*) FROM iovs i WHERE i.tag = t.name) FROM tags t ORDER BY t.name",
        &[],
        &[ColType::Text, ColType::Text, ColType::Bool, ColType::Int, ColType::Int, ColType::Int],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| TagInfo {
            name: r[0].as_str().unwrap_or_default().to_string(),
            description: r[1].as_str().unwrap_or_default().to_string(),
            locked: r[2] == Value::Bool(true),
            created_at_us: r[3].as_i64().unwrap_or(0),
            locked_at_us: r[4].as_i64(),
            iovs: r[5].as_i64().unwrap_or(0),
        })
        .collect())
}

/// Uploads payloads for intervals of one folder into a tag, in one transaction: all
/// or nothing. Intervals whose content is already current in the tag are skipped;
/// when nothing is new, nothing is written (not even provenance).
///
/// Values are stored [`Payload::canonical`] (a NaN as null, -0.0 as 0.0). A payload
/// already stored (the same content, in this tag or another) is read back and checked
/// before it is relied on: a damaged one is [`DbError::Corrupt`], never "unchanged".
pub fn upload(b: &mut dyn Backend, tag: &str, items: &[(Iov, Payload)], prov: &Provenance) -> Result<UploadReport> {
    Ok(upload_all(b, tag, &[items.to_vec()], prov)?.remove(0))
}

/// Uploads several folders (one group of intervals each) in one transaction: all of
/// them or none. One report per group.
pub fn upload_all(b: &mut dyn Backend, tag: &str, groups: &[Vec<(Iov, Payload)>], prov: &Provenance) -> Result<Vec<UploadReport>> {
    let mut tx = b.begin(true)?;
    let mut reports = Vec::with_capacity(groups.len());
    for items in groups {
        // Stored, and named, as every backend returns them.
        let items: Vec<(Iov, Payload)> = items.iter().map(|(iov, p)| (*iov, p.clone().canonical())).collect();
        reports.push(upload_in(tx.as_mut(), tag, &items, prov)?);
    }
    if reports.iter().any(|r| r.upload_id.is_some()) {
        tx.commit()?;
    }
    Ok(reports)
}

fn upload_in(tx: &mut dyn Tx, tag: &str, items: &[(Iov, Payload)], prov: &Provenance) -> Result<UploadReport> {
    // Checks before touching the database: one folder, no overlaps within the upload.
    let Some((_, first)) = items.first() else {
        return Ok(UploadReport { upload_id: None, written: 0, unchanged: 0, new_payloads: 0, rows: 0, gaps: Vec::new() });
    };
    let folder = first.folder.clone();
    if let Some((_, p)) = items.iter().find(|(_, p)| p.folder != folder) {
        return Err(DbError::Payload(format!("one upload is one folder: {} and {}", folder.name, p.folder.name)));
    }
    let mut sorted: Vec<&(Iov, Payload)> = items.iter().collect();
    sorted.sort_by_key(|(iov, _)| *iov);
    let mut gaps = Vec::new();
    for w in sorted.windows(2) {
        let (a, b) = (w[0].0, w[1].0);
        if a.overlaps(&b) {
            return Err(DbError::Overlap { a, b });
        }
        if let Some(end) = a.end {
            if end < b.first {
                gaps.push((end, b.first));
            }
        }
    }
    let hashes: Vec<String> = sorted.iter().map(|(_, p)| p.hash()).collect();

    let d = tx.dialect();
    ensure_tag(tx, tag, "")?;
    let lock = if d == Dialect::Postgres { " FOR UPDATE" } else { "" };
    let locked = tx.query(&format!("SELECT locked FROM tags WHERE name = $1{lock}"), &[Value::Text(tag.into())], &[ColType::Bool])?;
    if locked.first().is_some_and(|r| r[0] == Value::Bool(true)) {
        return Err(DbError::TagLocked(tag.into()));
    }
    // Which intervals already have this content as their current constants?
    let mut todo = Vec::new();
    for (k, (iov, _)) in sorted.iter().enumerate() {
        let [a, b_, c, e] = iov_params(iov);
        let same = one_int(
            tx,
            "SELECT COUNT(*) FROM iovs i WHERE i.tag = $1 AND i.folder = $2 AND i.first_run = $3 AND i.first_subrun = $4 \
             AND ((i.end_run IS NULL AND CAST($5 AS BIGINT) IS NULL) OR (i.end_run = $5 AND i.end_subrun = $6)) AND i.payload_hash = $7 \
             AND NOT EXISTS (SELECT 1 FROM iovs j WHERE j.tag = i.tag AND j.folder = i.folder AND j.id > i.id \
                 AND (j.end_run IS NULL OR j.end_run > i.first_run OR (j.end_run = i.first_run AND j.end_subrun > i.first_subrun)) \
                 AND (i.end_run IS NULL OR j.first_run < i.end_run OR (j.first_run = i.end_run AND j.first_subrun < i.end_subrun)))",
            &[Value::Text(tag.into()), Value::Text(folder.name.into()), a, b_, c, e, Value::Text(hashes[k].clone())],
        )?;
        if same == Some(1) {
            // Current, but skipped only when what is stored is intact.
            verify_stored(tx, tag, iov, &folder, &hashes[k])?;
        } else {
            todo.push(k);
        }
    }
    let unchanged = sorted.len() - todo.len();
    if todo.is_empty() {
        return Ok(UploadReport { upload_id: None, written: 0, unchanged, new_payloads: 0, rows: 0, gaps });
    }
    // Insertion times strictly increase within a tag, whatever the clocks do.
    let last = one_int(tx, "SELECT MAX(inserted_at_us) FROM iovs WHERE tag = $1", &[Value::Text(tag.into())])?.unwrap_or(0);
    let now = tx.now_us()?.max(last + 1);
    let text = |s: &str| Value::Text(s.to_string());
    let upload_id = one_int(
        tx,
        "INSERT INTO uploads (created_at_us, tag, folder, dataset, software_version, git_commit, cuts_sha256, user_name, host, command_line, out_dir, required_flags, summed_passing) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        &[
            Value::Int(now),
            text(tag),
            text(folder.name),
            text(&prov.dataset),
            text(&prov.software_version),
            text(&prov.git_commit),
            prov.cuts_sha256.as_deref().map_or(Value::Null(ColType::Text), text),
            text(&prov.user),
            text(&prov.host),
            text(&prov.command_line),
            prov.out_dir.as_deref().map_or(Value::Null(ColType::Text), text),
            prov.required_flags.as_ref().map_or(Value::Null(ColType::Text), |f| Value::Text(serde_json::Value::from(f.clone()).to_string())),
            prov.summed_passing.as_ref().map_or(Value::Null(ColType::Text), |f| Value::Text(serde_json::Value::from(f.clone()).to_string())),
        ],
    )?
    .ok_or_else(|| DbError::Backend("INSERT ... RETURNING gave no id".into()))?;
    let input_cols = [("upload_id".to_string(), ColType::Int), ("path".into(), ColType::Text), ("size".into(), ColType::Int), ("sha256".into(), ColType::Text)];
    let mut inputs = prov.inputs.iter().map(|f| vec![Value::Int(upload_id), text(&f.path), Value::Int(f.size as i64), text(&f.sha256)]);
    tx.bulk_insert("upload_inputs", &input_cols, &mut inputs)?;
    let (mut new_payloads, mut rows) = (0, 0);
    let mut row_cols = vec![("payload_hash".to_string(), ColType::Text), ("row_index".to_string(), ColType::Int)];
    row_cols.extend(folder.columns.iter().cloned());
    for &k in &todo {
        let (iov, p) = sorted[k];
        let hash = &hashes[k];
        let inserted = tx.exec(
            "INSERT INTO payloads (hash, folder, nrows, created_at_us) SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS BIGINT), CAST($4 AS BIGINT) \
             WHERE NOT EXISTS (SELECT 1 FROM payloads WHERE hash = $1) ON CONFLICT (hash) DO NOTHING",
            &[text(hash), text(folder.name), Value::Int(p.rows.len() as i64), Value::Int(now)],
        )?;
        if inserted == 0 {
            // Stored before: a new interval relies on it only when it is intact.
            verify_stored(tx, tag, iov, &folder, hash)?;
        } else {
            new_payloads += 1;
            let mut it = p.rows.iter().enumerate().map(|(i, r)| {
                let mut v = Vec::with_capacity(r.len() + 2);
                v.push(text(hash));
                v.push(Value::Int(i as i64));
                v.extend(r.iter().cloned());
                v
            });
            rows += tx.bulk_insert(&folder.table(), &row_cols, &mut it)? as usize;
        }
        let [a, b_, c, e] = iov_params(iov);
        tx.exec(
            "INSERT INTO iovs (tag, folder, first_run, first_subrun, end_run, end_subrun, payload_hash, upload_id, inserted_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[text(tag), text(folder.name), a, b_, c, e, text(hash), Value::Int(upload_id), Value::Int(now)],
        )?;
    }
    tracing::info!(tag, folder = folder.name, upload_id, written = todo.len(), unchanged, new_payloads, rows, "upload");
    Ok(UploadReport { upload_id: Some(upload_id), written: todo.len(), unchanged, new_payloads, rows, gaps })
}

/// The SQL condition "interval of `i` covers ($3, $4)".
const COVERS: &str = "(i.first_run < $3 OR (i.first_run = $3 AND i.first_subrun <= $4)) \
     AND (i.end_run IS NULL OR i.end_run > $3 OR (i.end_run = $3 AND i.end_subrun > $4))";

/// The columns after which [`split_stored`] reads a payload: the payload record's row
/// count and creation time, the row index, then the folder's columns. `src` names the
/// payload hash; every join is a LEFT JOIN, so a missing record or missing rows still
/// give one row (of nulls) to tell it by.
fn stored_columns_sql(folder: &Folder, src: &str) -> (String, String, Vec<ColType>) {
    let cols: Vec<String> = folder.columns.iter().map(|(n, _)| format!("r.\"{n}\"")).collect();
    let select = format!("p.nrows, p.created_at_us, r.row_index, {}", cols.join(", "));
    let joins = format!("LEFT JOIN payloads p ON p.hash = {src} LEFT JOIN {} r ON r.payload_hash = {src}", folder.table());
    let mut types = vec![ColType::Int; 3];
    types.extend(folder.columns.iter().map(|(_, t)| *t));
    (select, joins, types)
}

/// A payload as read back, before it is believed.
struct Stored {
    nrows: Option<i64>,
    created_at_us: Option<i64>,
    /// Whether the row indexes read are exactly 0, 1, ..., n - 1.
    indexes_in_order: bool,
    payload: Payload,
}

/// Splits rows laid out by [`stored_columns_sql`] (after `skip` leading columns).
fn split_stored(folder: &Folder, rows: Vec<Vec<Value>>, skip: usize) -> Stored {
    let nrows = rows.first().and_then(|r| r[skip].as_i64());
    let created_at_us = rows.first().and_then(|r| r[skip + 1].as_i64());
    // No row of the folder table: the LEFT JOIN gave one row with a null index.
    let rows: Vec<Vec<Value>> = rows.into_iter().filter(|r| r[skip + 2] != Value::Null(ColType::Int)).collect();
    let indexes_in_order = rows.iter().enumerate().all(|(i, r)| r[skip + 2].as_i64() == Some(i as i64));
    let rows = rows.into_iter().map(|mut r| r.split_off(skip + 3)).collect();
    Stored { nrows, created_at_us, indexes_in_order, payload: Payload { folder: folder.clone(), rows } }
}

/// The stored rows of payload `hash`, checked ([`check_stored`]).
fn verify_stored(tx: &mut dyn Tx, tag: &str, iov: &Iov, folder: &Folder, hash: &str) -> Result<()> {
    let (select, joins, types) = stored_columns_sql(folder, "q.h");
    let rows = tx.query(&format!("SELECT {select} FROM (SELECT CAST($1 AS TEXT) AS h) q {joins} ORDER BY r.row_index"), &[Value::Text(hash.into())], &types)?;
    check_stored(tx, tag, iov, hash, split_stored(folder, rows, 0)).map(drop)
}

/// What was read is what was stored under `hash`: as many rows as its record says,
/// indexed 0..n, hashing to `hash`. Otherwise [`DbError::Corrupt`].
///
/// One allowance, for payloads stored before migration 3 made uploads canonical: on
/// SQLite such a payload was named by the hash of its NaN and -0.0 values, and stored
/// them as NULL and 0.0. When the rows hold such values, their count is right and the
/// payload predates migration 3, it is accepted with a warning (the count is all that
/// can be checked).
fn check_stored(tx: &mut dyn Tx, tag: &str, iov: &Iov, hash: &str, s: Stored) -> Result<Payload> {
    let found_rows = s.payload.rows.len();
    let count_ok = s.nrows == Some(found_rows as i64) && s.indexes_in_order;
    let found_hash = s.payload.hash();
    if count_ok && found_hash == hash {
        return Ok(s.payload);
    }
    let corrupt = |found_hash: Option<String>| DbError::Corrupt {
        folder: s.payload.folder.name.to_string(),
        tag: tag.to_string(),
        iov: *iov,
        payload: hash.to_string(),
        expected_rows: s.nrows,
        found_rows,
        found_hash,
    };
    if !count_ok {
        return Err(corrupt((found_hash != hash).then_some(found_hash)));
    }
    if tx.dialect() == Dialect::Sqlite && s.payload.rows.iter().flatten().any(Value::maybe_lossy) {
        let canonical_since = one_int(tx, "SELECT applied_at_us FROM schema_migrations WHERE version = 3", &[])?;
        if let (Some(created), Some(since)) = (s.created_at_us, canonical_since) {
            if created < since {
                tracing::warn!(
                    tag,
                    folder = s.payload.folder.name,
                    payload = crate::checksum::short_hash(hash),
                    "payload stored before uploads were canonical (NaN or -0.0 stored as NULL or 0.0): its row count is right, its hash cannot be checked"
                );
                return Ok(s.payload);
            }
        }
    }
    Err(corrupt(Some(found_hash)))
}

/// The latest insertion of `folder` in `tag` covering ($3, $4) as the tag stood at
/// $5: its interval and payload hash, the columns [`BEST_IOV_TYPES`] reads.
fn best_iov_sql() -> String {
    format!(
        "SELECT i.first_run, i.first_subrun, i.end_run, i.end_subrun, i.payload_hash FROM iovs i \
         WHERE i.tag = $1 AND i.folder = $2 AND {COVERS} AND i.inserted_at_us <= $5 ORDER BY i.inserted_at_us DESC, i.id DESC LIMIT 1"
    )
}

const BEST_IOV_TYPES: [ColType; 5] = [ColType::Int, ColType::Int, ColType::Int, ColType::Int, ColType::Text];

fn best_iov_params(tag: &str, folder: &Folder, point: Point, as_of_us: Option<i64>) -> [Value; 5] {
    [
        Value::Text(tag.into()),
        Value::Text(folder.name.into()),
        Value::Int(point.0.into()),
        Value::Int(point.1.into()),
        Value::Int(as_of_us.unwrap_or(i64::MAX)),
    ]
}

/// Which interval and payload [`get`] would read, without reading the payload (one
/// indexed query): what a cache of payloads by content hash needs to answer a read.
/// `None` when no interval covers the point; [`DbError::NoTag`] when there is no such tag.
pub fn resolve(b: &mut dyn Backend, tag: &str, folder: &str, point: Point, as_of_us: Option<i64>) -> Result<Option<(Iov, String)>> {
    let folder = folder_or_err(folder)?;
    let mut tx = b.begin(false)?;
    match resolve_in(tx.as_mut(), tag, &folder, point, as_of_us)? {
        Some(found) => Ok(Some(found)),
        None => nothing_covers(tx.as_mut(), tag),
    }
}

/// [`resolve`] inside a transaction: `None` when no interval covers the point.
fn resolve_in(tx: &mut dyn Tx, tag: &str, folder: &Folder, point: Point, as_of_us: Option<i64>) -> Result<Option<(Iov, String)>> {
    let rows = tx.query(&best_iov_sql(), &best_iov_params(tag, folder, point, as_of_us), &BEST_IOV_TYPES)?;
    Ok(rows.first().map(|first| (iov_from(&first[..4]), first[4].as_str().unwrap_or_default().to_string())))
}

/// The constants of `folder` in `tag` valid at `point`, as the tag stood at `as_of_us`
/// (now when `None`), in one query: the rows of the latest insertion that covers the
/// point. `None` when no interval covers it; [`DbError::NoTag`] when there is no such
/// tag. What is returned is checked against what was stored: the row count of the
/// payload's record and the content hash it is named by ([`DbError::Corrupt`]).
pub fn get(b: &mut dyn Backend, tag: &str, folder: &str, point: Point, as_of_us: Option<i64>) -> Result<Option<(Iov, Payload)>> {
    let location = b.location();
    let mut tx = b.begin(false)?;
    let folder = folder_in(tx.as_mut(), folder, location)?;
    let (select, joins, types_stored) = stored_columns_sql(&folder, "best.payload_hash");
    let sql = format!("WITH best AS ({}) SELECT best.*, {select} FROM best {joins} ORDER BY r.row_index", best_iov_sql());
    let mut types = BEST_IOV_TYPES.to_vec();
    types.extend(types_stored);
    let rows = tx.query(&sql, &best_iov_params(tag, &folder, point, as_of_us), &types)?;
    let Some(first) = rows.first() else {
        return nothing_covers(tx.as_mut(), tag);
    };
    let iov = iov_from(&first[..4]);
    let hash = first[4].as_str().unwrap_or_default().to_string();
    let payload = check_stored(tx.as_mut(), tag, &iov, &hash, split_stored(&folder, rows, 5))?;
    Ok(Some((iov, payload)))
}

/// Some columns of what [`get`] reads, with the payload's hash: for a read that needs
/// a column or two of a wide payload (the CTAGs of `subrun_metrics` for a good-subrun
/// list), not all of it. The row count and row indexes are checked against the
/// payload's record ([`DbError::Corrupt`]); the content hash, which needs every
/// column, is not: [`get`] checks it.
pub fn get_columns(b: &mut dyn Backend, tag: &str, folder: &str, point: Point, as_of_us: Option<i64>, columns: &[&str]) -> Result<Option<(Iov, String, Payload)>> {
    let location = b.location();
    let mut tx = b.begin(false)?;
    let full = folder_in(tx.as_mut(), folder, location)?;
    let columns = columns
        .iter()
        .map(|c| full.columns.iter().find(|(n, _)| n == c).cloned().ok_or_else(|| DbError::Payload(format!("folder {} has no column `{c}`", full.name))))
        .collect::<Result<Vec<_>>>()?;
    let part = Folder { name: full.name, columns };
    // The interval first, then only the columns asked for, by the payload's key: each
    // row carries nothing else (no interval, no hash), which is what makes it cheap.
    let Some((iov, hash)) = resolve_in(tx.as_mut(), tag, &part, point, as_of_us)? else {
        return nothing_covers(tx.as_mut(), tag);
    };
    let nrows = one_int(tx.as_mut(), "SELECT nrows FROM payloads WHERE hash = $1", &[Value::Text(hash.clone())])?;
    let cols: Vec<String> = part.columns.iter().map(|(n, _)| format!("r.\"{n}\"")).collect();
    let mut types = vec![ColType::Int];
    types.extend(part.columns.iter().map(|(_, t)| *t));
    let rows = tx.query(&format!("SELECT r.row_index, {} FROM {} r WHERE r.payload_hash = $1 ORDER BY r.row_index", cols.join(", "), part.table()), &[Value::Text(hash.clone())], &types)?;
    let found_rows = rows.len();
    let in_order = rows.iter().enumerate().all(|(i, r)| r[0].as_i64() == Some(i as i64));
    if nrows != Some(found_rows as i64) || !in_order {
        return Err(DbError::Corrupt { folder: full.name.to_string(), tag: tag.to_string(), iov, payload: hash, expected_rows: nrows, found_rows, found_hash: None });
    }
    let rows = rows.into_iter().map(|mut r| r.split_off(1)).collect();
    Ok(Some((iov, hash, Payload { folder: part, rows })))
}

/// The whole history of a folder in a tag, in insertion order ([`DbError::NoTag`] when
/// there is no such tag; empty when the tag has nothing of this folder).
pub fn history(b: &mut dyn Backend, tag: &str, folder: &str) -> Result<Vec<IovRecord>> {
    let folder = folder_or_err(folder)?;
    let mut tx = b.begin(false)?;
    // A database read as it is, before migration 4, has no out_dir.
    let version = schema_version(tx.as_mut())?;
    let out_dir = if version >= 4 { "u.out_dir" } else { "CAST(NULL AS TEXT)" };
    // ... and before migration 5 no required flags.
    let required = if version >= 5 { "u.required_flags" } else { "CAST(NULL AS TEXT)" };
    // ... and before migration 7 no record of which subruns the sums took.
    let summed = if version >= 7 { "u.summed_passing" } else { "CAST(NULL AS TEXT)" };
    let rows = tx.query(
        &format!(
            "SELECT i.first_run, i.first_subrun, i.end_run, i.end_subrun, i.id, i.payload_hash, i.upload_id, i.inserted_at_us, p.nrows, \
             u.user_name, u.dataset, u.git_commit, u.cuts_sha256, {out_dir}, {required}, {summed} \
             FROM iovs i JOIN payloads p ON p.hash = i.payload_hash JOIN uploads u ON u.id = i.upload_id \
             WHERE i.tag = $1 AND i.folder = $2 ORDER BY i.inserted_at_us, i.id"
        ),
        &[Value::Text(tag.into()), Value::Text(folder.name.into())],
        &[
            ColType::Int,
            ColType::Int,
            ColType::Int,
            ColType::Int,
            ColType::Int,
            ColType::Text,
            ColType::Int,
            ColType::Int,
            ColType::Int,
            ColType::Text,
            ColType::Text,
            ColType::Text,
            ColType::Text,
            ColType::Text,
            ColType::Text,
            ColType::Text,
        ],
    )?;
    if rows.is_empty() && !tag_exists(tx.as_mut(), tag)? {
        return Err(no_tag(tx.as_mut(), tag)?);
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    rows.iter()
        .map(|r| -> Result<IovRecord> {
            Ok(IovRecord {
                iov: iov_from(&r[..4]),
                id: r[4].as_i64().unwrap_or(0),
                payload_hash: s(&r[5]),
                upload_id: r[6].as_i64().unwrap_or(0),
                inserted_at_us: r[7].as_i64().unwrap_or(0),
                nrows: r[8].as_i64().unwrap_or(0),
                user: s(&r[9]),
                dataset: s(&r[10]),
                git_commit: s(&r[11]),
                cuts_sha256: r[12].as_str().map(str::to_string),
                out_dir: r[13].as_str().map(str::to_string),
                required_flags: r[14].as_str().map(|t| parse_flags(t, "required_flags", r[6].as_i64().unwrap_or(0))).transpose()?,
                summed_passing: r[15].as_str().map(|t| parse_flags(t, "summed_passing", r[6].as_i64().unwrap_or(0))).transpose()?,
            })
        })
        .collect()
}

/// `uploads.required_flags` or `summed_passing` as stored: a JSON list of flag names.
/// Anything else is damaged data, named by its column and upload.
fn parse_flags(text: &str, column: &str, upload_id: i64) -> Result<Vec<String>> {
    serde_json::from_str::<Vec<String>>(text).map_err(|e| DbError::Damaged {
        location: format!("uploads.{column} of upload {upload_id}"),
        detail: format!("not a JSON list of flag names: {e}"),
    })
}

/// The provenance inputs of an upload.
pub fn upload_inputs(b: &mut dyn Backend, upload_id: i64) -> Result<Vec<InputFile>> {
    let mut tx = b.begin(false)?;
    let rows = tx.query("SELECT path, size, sha256 FROM upload_inputs WHERE upload_id = $1 ORDER BY path", &[Value::Int(upload_id)], &[ColType::Text, ColType::Int, ColType::Text])?;
    Ok(rows
        .iter()
        .map(|r| InputFile { path: r[0].as_str().unwrap_or_default().into(), size: r[1].as_i64().unwrap_or(0) as u64, sha256: r[2].as_str().unwrap_or_default().into() })
        .collect())
}

/// Counts of rows per table (for tests and `db status`): the conditions tables, the
/// board's log, and (from schema version 4) the web application's users and audit
/// record.
pub fn table_counts(b: &mut dyn Backend) -> Result<BTreeMap<String, i64>> {
    let mut tx = b.begin(false)?;
    let mut out = BTreeMap::new();
    let mut tables: Vec<String> = ["tags", "uploads", "upload_inputs", "payloads", "iovs", "stage_log"].iter().map(|s| s.to_string()).collect();
    let version = schema_version(tx.as_mut())?;
    tables.extend(schema::folders_at(version).iter().map(|f| f.table()));
    if version >= 4 {
        tables.extend(["web_users", "web_audit"].map(String::from));
    }
    for t in tables {
        let n = one_int(tx.as_mut(), &format!("SELECT COUNT(*) FROM {t}"), &[])?.unwrap_or(0);
        out.insert(t, n);
    }
    Ok(out)
}

/// A dataset the conditions database holds uploads of: where its latest upload came
/// from and when, into which tag.
///
/// JSON: `{"dataset": "run3B", "out_dir": "/data/dqc/run3B" | null, "last_upload_at_us":
/// 1796083200000000, "last_upload_at": "2026-12-01T00:00:00.000000Z", "tag": "dqc-v1"}`.
/// `out_dir` is the latest upload's that recorded one (null when none did: uploads
/// before migration 4).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatasetDir {
    pub dataset: String,
    pub out_dir: Option<String>,
    pub last_upload_at_us: i64,
    pub last_upload_at: String,
    /// The tag of the latest upload.
    pub tag: String,
}

/// Every dataset with uploads, sorted by name (byte order), with the output directory
/// its latest upload recorded (for the web application: which directory to show and
/// rerun for a dataset). Reads a database before migration 4 too (no `out_dir`).
pub fn uploaded_datasets(b: &mut dyn Backend) -> Result<Vec<DatasetDir>> {
    let mut tx = b.begin(false)?;
    let has_out_dir = schema_version(tx.as_mut())? >= 4;
    let latest = "u.id = (SELECT MAX(v.id) FROM uploads v WHERE v.dataset = u.dataset)";
    let out_dir = if has_out_dir {
        "(SELECT w.out_dir FROM uploads w WHERE w.dataset = u.dataset AND w.out_dir IS NOT NULL ORDER BY w.id DESC LIMIT 1)"
    } else {
        "CAST(NULL AS TEXT)"
    };
    let rows = tx.query(
        &format!("SELECT u.dataset, {out_dir}, u.created_at_us, u.tag FROM uploads u WHERE {latest}"),
        &[],
        &[ColType::Text, ColType::Text, ColType::Int, ColType::Text],
    )?;
    let mut v: Vec<DatasetDir> = rows
        .into_iter()
        .map(|r| {
            let at = r[2].as_i64().unwrap_or(0);
            DatasetDir {
                dataset: r[0].as_str().unwrap_or_default().to_string(),
                out_dir: r[1].as_str().map(str::to_string),
                last_upload_at_us: at,
                last_upload_at: time::format_us(at),
                tag: r[3].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect();
    v.sort_by(|a, b| a.dataset.cmp(&b.dataset));
    Ok(v)
}
