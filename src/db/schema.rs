//! The conditions-database schema, the same on both backends (only the SQL type names
//! differ), and its migrations.
//!
//! - `tags`: named tags; a locked tag refuses writes (a trigger enforces it, whatever
//!   the client), and a lock is never undone.
//! - `uploads` + `upload_inputs`: the provenance of every upload.
//! - `payloads`: one row per content hash; the rows themselves are in the folder's table
//!   (`f_<folder>`), keyed by the hash. Never changed after insertion.
//! - `iovs`: append-only history: (tag, folder, [first, end), payload, upload, insertion
//!   time). The current constants at a point are those of the latest insertion that
//!   covers it; "as of" a time, the latest insertion up to that time.
//!
//! - `web_users` (migration 4): the web application's users, each with a role and only
//!   a salted hash of its token ([`crate::db::users`]); `web_audit` its append-only
//!   record of who did what.
//!
//! Triggers make `iovs`, `payloads`, `uploads` and the folder tables append-only
//! (migration 1), `stage_log` too (migration 2), and close the paths around row
//! triggers (migration 3): SQLite's `REPLACE` family, PostgreSQL's `TRUNCATE`.
//! Migration 4 adds the web application's tables (`web_audit` with all of those
//! protections) and `uploads.out_dir`, the output directory an upload came from (NULL
//! for uploads made before it). Migration 5 adds `uploads.required_flags`: the flags
//! the upload's cut file requires of a good subrun (a JSON list; NULL before it), so a
//! good-subrun list can drop one of them as `cuts diff` would. Migration 6 adds the
//! folders of the per-run DQC constants and the calorimeters' quality, and the gain
//! rows' reference run ([`ADDED_COLUMNS`]): each migration creates the folders and
//! columns of its own time ([`folders_at`]), so a database built in one step and one
//! migrated step by step are the same.

/// A column type of a folder table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    Real,
    Bool,
    Text,
}

/// Which SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl ColType {
    pub fn sql(self, d: Dialect) -> &'static str {
        match (self, d) {
            (ColType::Int, _) => "BIGINT",
            (ColType::Real, Dialect::Sqlite) => "REAL",
            (ColType::Real, Dialect::Postgres) => "DOUBLE PRECISION",
            (ColType::Bool, Dialect::Sqlite) => "INTEGER",
            (ColType::Bool, Dialect::Postgres) => "BOOLEAN",
            (ColType::Text, _) => "TEXT",
        }
    }
}

/// A folder: a kind of constants, stored in table `f_<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: &'static str,
    pub columns: Vec<(String, ColType)>,
}

impl Folder {
    pub fn table(&self) -> String {
        format!("f_{}", self.name)
    }
}

/// The folders of the database, with their columns (the section 6 tables; for
/// `subrun_status` the flags are one JSON column, since a cut file chooses them).
pub fn folders() -> Vec<Folder> {
    use polars::prelude::DataType;
    let from_frame = |name: &'static str, df: polars::prelude::DataFrame| Folder {
        name,
        columns: df
            .columns()
            .iter()
            .map(|c| {
                let t = match c.dtype() {
                    DataType::UInt32 | DataType::UInt64 | DataType::Int32 | DataType::Int64 => ColType::Int,
                    DataType::Float64 | DataType::Float32 => ColType::Real,
                    DataType::Boolean => ColType::Bool,
                    _ => ColType::Text,
                };
                (c.name().to_string(), t)
            })
            .collect(),
    };
    vec![
        from_frame("gain_constants", crate::tables::gain_constants(&[])),
        from_frame("calo_channel_status", crate::tables::calo_channel_status(&[])),
        from_frame("tracker_channel_status", crate::tables::tracker_channel_status(&[])),
        from_frame("subrun_metrics", crate::tables::subrun_metrics(&[])),
        Folder {
            name: "subrun_status",
            columns: vec![
                ("run".into(), ColType::Int),
                ("subrun".into(), ColType::Int),
                ("ok".into(), ColType::Bool),
                ("reasons".into(), ColType::Text),
                ("flags_json".into(), ColType::Text),
                ("cuts_sha256".into(), ColType::Text),
            ],
        },
        from_frame("calo_quality", crate::tables::calo_quality(&[])),
        from_frame("kicker_dqc", run_constants_frame(crate::cuts::run_constants::kicker_dqc)),
        from_frame("t0_dqc", run_constants_frame(crate::cuts::run_constants::t0_dqc)),
        from_frame("laser_dqc", run_constants_frame(crate::cuts::run_constants::laser_dqc)),
    ]
}

/// The empty table of a per-run DQC constants folder (its columns and types).
fn run_constants_frame(
    f: fn(&polars::prelude::DataFrame, &crate::cuts::run_constants::RunConstantsConfig) -> Result<polars::prelude::DataFrame, crate::cuts::eval::EvalError>,
) -> polars::prelude::DataFrame {
    f(&crate::tables::subrun_metrics(&[]), &crate::cuts::run_constants::RunConstantsConfig::STANDARD).expect("the empty metrics table has every column")
}

pub fn folder(name: &str) -> Option<Folder> {
    folders().into_iter().find(|f| f.name == name)
}

/// The folders created after migration 1, with the migration that created them.
const FOLDERS_SINCE: [(&str, i64); 4] = [("calo_quality", 6), ("kicker_dqc", 6), ("t0_dqc", 6), ("laser_dqc", 6)];

/// The columns added to a folder after it was created: (folder, column, migration).
/// A payload stored before has none of them; its content hash was taken without them,
/// and [`crate::db::payload::Payload::hash`] leaves out such a column when every row
/// of the payload has it null, so a payload read back hashes to its name whichever
/// build stored it.
pub const ADDED_COLUMNS: [(&str, &str, i64); 1] = [("gain_constants", "reference_run", 6)];

/// The last migration that created or changed `folder` after migration 1, if any.
pub fn changed_in(folder: &str) -> Option<i64> {
    FOLDERS_SINCE.iter().filter(|(n, _)| *n == folder).map(|(_, v)| *v).chain(ADDED_COLUMNS.iter().filter(|(n, _, _)| *n == folder).map(|(_, _, v)| *v)).max()
}

/// Whether `column` of `folder` was added after the folder was created.
pub fn is_added_column(folder: &str, column: &str) -> bool {
    ADDED_COLUMNS.iter().any(|(f, c, _)| *f == folder && *c == column)
}

/// The folders and their columns as they were at schema version `v` (the migrations
/// create what was there when they were written, whatever this build adds later).
pub fn folders_at(v: i64) -> Vec<Folder> {
    folders()
        .into_iter()
        .filter(|f| FOLDERS_SINCE.iter().all(|(n, since)| *n != f.name || *since <= v))
        .map(|mut f| {
            f.columns.retain(|(c, _)| ADDED_COLUMNS.iter().all(|(n, col, since)| *n != f.name || col != c || *since <= v));
            f
        })
        .collect()
}

/// The schema version this build writes and reads: the last of [`migrations`].
pub const SCHEMA_VERSION: i64 = 8;

/// Every migration of a dialect, in order: (version, statements). A database at
/// version `v` gets those above `v`, in one transaction.
pub fn migrations(d: Dialect) -> Vec<(i64, Vec<String>)> {
    vec![(1, migration_1(d)), (2, migration_2(d)), (3, migration_3(d)), (4, migration_4(d)), (5, migration_5()), (6, migration_6(d)), (7, migration_7(d)), (8, migration_8(d))]
}

/// The `CREATE TABLE` of a folder's table.
fn folder_table_sql(f: &Folder, d: Dialect) -> String {
    let cols: Vec<String> = f.columns.iter().map(|(n, t)| format!("\"{n}\" {}", t.sql(d))).collect();
    format!(
        "CREATE TABLE {} (payload_hash TEXT NOT NULL REFERENCES payloads(hash), row_index BIGINT NOT NULL, {}, PRIMARY KEY (payload_hash, row_index))",
        f.table(),
        cols.join(", ")
    )
}

/// SQLite: the append-only triggers of migration 1 on table `t`.
fn sqlite_append_only(t: &str) -> [String; 2] {
    [
        format!("CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END"),
        format!("CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END"),
    ]
}

/// PostgreSQL: no UPDATE, DELETE (migration 1's row trigger) or TRUNCATE (migration
/// 3's statement trigger) on table `t`, for the tables created after those migrations.
fn pg_append_only(t: &str) -> [String; 2] {
    [
        format!("CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION gm2dqc_append_only()"),
        format!("CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION gm2dqc_append_only()"),
    ]
}

/// SQLite: migration 3's refusal of an insert that would replace a row of `t` (same
/// rowid, or same unique `key`).
fn sqlite_no_replace(t: &str, key: &[&str]) -> String {
    let mut cond = vec![format!("EXISTS (SELECT 1 FROM {t} WHERE rowid = NEW.rowid)")];
    if !key.is_empty() {
        let eq: Vec<String> = key.iter().map(|k| format!("\"{k}\" = NEW.\"{k}\"")).collect();
        cond.push(format!("EXISTS (SELECT 1 FROM {t} WHERE {})", eq.join(" AND ")));
    }
    format!("CREATE TRIGGER {t}_no_replace BEFORE INSERT ON {t} WHEN {} BEGIN SELECT RAISE(ABORT, '{t}: a row with this key exists and is never replaced'); END", cond.join(" OR "))
}

/// Migration 3's rule that a folder table takes only rows inside their payload's record.
fn in_payload_trigger(t: &str, d: Dialect) -> String {
    match d {
        Dialect::Sqlite => format!(
            "CREATE TRIGGER {t}_in_payload BEFORE INSERT ON {t} \
             WHEN NEW.row_index < 0 OR NEW.row_index >= COALESCE((SELECT nrows FROM payloads WHERE hash = NEW.payload_hash), 0) \
             BEGIN SELECT RAISE(ABORT, '{t}: a row outside the rows 0..nrows of its payload record'); END"
        ),
        Dialect::Postgres => format!("CREATE TRIGGER {t}_in_payload BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION gm2dqc_row_in_payload()"),
    }
}

/// Migration 6: the per-run DQC constants of the g-2 checklist and the calorimeters'
/// quality bit as folders (`kicker_dqc`, `t0_dqc`, `laser_dqc`, `calo_quality`), each
/// with every protection the folder tables of migrations 1 and 3 have, and the
/// reference run of each gain row (`f_gain_constants.reference_run`, NULL for the rows
/// stored before; see [`ADDED_COLUMNS`]).
pub fn migration_6(d: Dialect) -> Vec<String> {
    let mut s = Vec::new();
    for f in folders_at(6).iter().filter(|f| FOLDERS_SINCE.iter().any(|(n, v)| *n == f.name && *v == 6)) {
        let t = f.table();
        s.push(folder_table_sql(f, d));
        match d {
            Dialect::Sqlite => {
                s.extend(sqlite_append_only(&t));
                s.push(sqlite_no_replace(&t, &["payload_hash", "row_index"]));
            }
            Dialect::Postgres => s.extend(pg_append_only(&t)),
        }
        s.push(in_payload_trigger(&t, d));
    }
    for (f, c, v) in ADDED_COLUMNS.iter().filter(|(_, _, v)| *v == 6) {
        let t = folder(f).and_then(|x| x.columns.iter().find(|(n, _)| n == c).map(|(_, t)| *t)).expect("an added column is a column of its folder");
        debug_assert_eq!(*v, 6);
        s.push(format!("ALTER TABLE f_{f} ADD COLUMN \"{c}\" {}", t.sql(d)));
    }
    s
}

/// The statements of migration 1 for a dialect.
pub fn migration_1(d: Dialect) -> Vec<String> {
    let id = match d {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let boolean = ColType::Bool.sql(d);
    let false_ = match d {
        Dialect::Sqlite => "0",
        Dialect::Postgres => "FALSE",
    };
    let mut s = vec![
        format!(
            "CREATE TABLE tags (name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', locked {boolean} NOT NULL DEFAULT {false_}, \
             created_at_us BIGINT NOT NULL, locked_at_us BIGINT)"
        ),
        format!(
            "CREATE TABLE uploads (id {id}, created_at_us BIGINT NOT NULL, tag TEXT NOT NULL REFERENCES tags(name), folder TEXT NOT NULL, \
             dataset TEXT NOT NULL, software_version TEXT NOT NULL, git_commit TEXT NOT NULL, cuts_sha256 TEXT, \
             user_name TEXT NOT NULL, host TEXT NOT NULL, command_line TEXT NOT NULL)"
        ),
        "CREATE TABLE upload_inputs (upload_id BIGINT NOT NULL REFERENCES uploads(id), path TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL)".into(),
        "CREATE TABLE payloads (hash TEXT PRIMARY KEY, folder TEXT NOT NULL, nrows BIGINT NOT NULL, created_at_us BIGINT NOT NULL)".into(),
        format!(
            "CREATE TABLE iovs (id {id}, tag TEXT NOT NULL REFERENCES tags(name), folder TEXT NOT NULL, \
             first_run BIGINT NOT NULL, first_subrun BIGINT NOT NULL, end_run BIGINT, end_subrun BIGINT, \
             payload_hash TEXT NOT NULL REFERENCES payloads(hash), upload_id BIGINT NOT NULL REFERENCES uploads(id), \
             inserted_at_us BIGINT NOT NULL, \
             CHECK ((end_run IS NULL) = (end_subrun IS NULL)), \
             CHECK (end_run IS NULL OR end_run > first_run OR (end_run = first_run AND end_subrun > first_subrun)))"
        ),
        "CREATE INDEX iovs_lookup ON iovs (tag, folder, first_run, first_subrun)".into(),
        "CREATE INDEX upload_inputs_upload ON upload_inputs (upload_id)".into(),
    ];
    for f in folders_at(1) {
        s.push(folder_table_sql(&f, d));
    }
    // Enforcement in the database itself: locked tags, append-only history.
    let append_only: Vec<String> = ["iovs", "payloads", "uploads", "upload_inputs"].iter().map(|t| t.to_string()).chain(folders_at(1).iter().map(|f| f.table())).collect();
    match d {
        Dialect::Sqlite => {
            s.push("CREATE TRIGGER iovs_refuse_locked BEFORE INSERT ON iovs WHEN (SELECT locked FROM tags WHERE name = NEW.tag) = 1 BEGIN SELECT RAISE(ABORT, 'tag is locked'); END".into());
            s.push("CREATE TRIGGER tags_stay_locked BEFORE UPDATE ON tags WHEN OLD.locked = 1 BEGIN SELECT RAISE(ABORT, 'a locked tag cannot be changed'); END".into());
            s.push("CREATE TRIGGER tags_no_delete BEFORE DELETE ON tags BEGIN SELECT RAISE(ABORT, 'tags are never deleted'); END".into());
            for t in &append_only {
                s.extend(sqlite_append_only(t));
            }
        }
        Dialect::Postgres => {
            s.push(
                "CREATE FUNCTION gm2dqc_refuse_locked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF EXISTS (SELECT 1 FROM tags WHERE name = NEW.tag AND locked) THEN RAISE EXCEPTION 'tag % is locked', NEW.tag; END IF; \
                 RETURN NEW; END $$"
                    .into(),
            );
            s.push("CREATE TRIGGER iovs_refuse_locked BEFORE INSERT ON iovs FOR EACH ROW EXECUTE FUNCTION gm2dqc_refuse_locked()".into());
            s.push(
                "CREATE FUNCTION gm2dqc_stay_locked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF OLD.locked THEN RAISE EXCEPTION 'tag % is locked and cannot be changed', OLD.name; END IF; RETURN NEW; END $$"
                    .into(),
            );
            s.push("CREATE TRIGGER tags_stay_locked BEFORE UPDATE ON tags FOR EACH ROW EXECUTE FUNCTION gm2dqc_stay_locked()".into());
            s.push(
                "CREATE FUNCTION gm2dqc_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
                    .into(),
            );
            for t in append_only.iter().chain(std::iter::once(&"tags".to_string())) {
                let ops = if t == "tags" { "DELETE" } else { "UPDATE OR DELETE" };
                s.push(format!("CREATE TRIGGER {t}_append_only BEFORE {ops} ON {t} FOR EACH ROW EXECUTE FUNCTION gm2dqc_append_only()"));
            }
        }
    }
    s
}

/// Migration 2: the bookkeeping board, an append-only log of stage states per
/// dataset (the current state of a stage is its latest entry).
pub fn migration_2(d: Dialect) -> Vec<String> {
    let id = match d {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let mut s = vec![
        format!(
            "CREATE TABLE stage_log (id {id}, dataset TEXT NOT NULL, stage TEXT NOT NULL, state TEXT NOT NULL, \
             user_name TEXT NOT NULL, host TEXT NOT NULL, at_us BIGINT NOT NULL, note TEXT NOT NULL DEFAULT '')"
        ),
        "CREATE INDEX stage_log_dataset ON stage_log (dataset, stage, id)".into(),
    ];
    match d {
        Dialect::Sqlite => {
            s.push("CREATE TRIGGER stage_log_no_update BEFORE UPDATE ON stage_log BEGIN SELECT RAISE(ABORT, 'stage_log is append-only'); END".into());
            s.push("CREATE TRIGGER stage_log_no_delete BEFORE DELETE ON stage_log BEGIN SELECT RAISE(ABORT, 'stage_log is append-only'); END".into());
        }
        Dialect::Postgres => {
            s.push("CREATE TRIGGER stage_log_append_only BEFORE UPDATE OR DELETE ON stage_log FOR EACH ROW EXECUTE FUNCTION gm2dqc_append_only()".into());
        }
    }
    s
}

/// The tables whose rows are never changed or removed once written, with the columns of
/// their unique keys other than the rowid (SQLite's `REPLACE` deletes a row that
/// conflicts on any of them): every table of migrations 1 and 2, the record of
/// migrations itself, and `web_audit` (migration 4).
pub fn append_only_tables() -> Vec<(String, Vec<&'static str>)> {
    let mut t: Vec<(String, Vec<&'static str>)> = vec![
        ("tags".into(), vec!["name"]),
        ("uploads".into(), vec![]),
        ("upload_inputs".into(), vec![]),
        ("payloads".into(), vec!["hash"]),
        ("iovs".into(), vec![]),
        ("stage_log".into(), vec![]),
        ("schema_migrations".into(), vec!["version"]),
        ("web_audit".into(), vec![]),
    ];
    t.extend(folders().iter().map(|f| (f.table(), vec!["payload_hash", "row_index"])));
    t
}

/// The append-only tables that migration 4 creates (migration 3 protects the others).
const APPEND_ONLY_SINCE_4: [&str; 1] = ["web_audit"];

/// The append-only tables migration 3 protects: those that existed before migration 4
/// (the folders of migration 6 get the same protections there).
fn append_only_tables_of_3() -> Vec<(String, Vec<&'static str>)> {
    let folders_of_3: Vec<String> = folders_at(3).iter().map(|f| f.table()).collect();
    append_only_tables()
        .into_iter()
        .filter(|(t, _)| !APPEND_ONLY_SINCE_4.contains(&t.as_str()) && (!t.starts_with("f_") || folders_of_3.contains(t)))
        .collect()
}

/// Migration 3: no path of the SQL language may change what was stored.
///
/// SQLite: `REPLACE`, `INSERT OR REPLACE`, `UPDATE OR REPLACE` and upserts resolve a key
/// conflict by deleting the old row, and that deletion fires no DELETE trigger unless
/// the connection set `PRAGMA recursive_triggers` (the client's choice). A BEFORE INSERT
/// trigger runs before conflict resolution, so every append-only table refuses an
/// insert whose rowid or unique key is already there; gm2dqc's own inserts never
/// conflict (`INSERT ... SELECT ... WHERE NOT EXISTS`). A tag (which may be updated, to
/// lock it) keeps its name, rowid and creation time, so `UPDATE OR REPLACE` cannot make
/// it take the place of another one. `schema_migrations` becomes append-only too.
///
/// PostgreSQL: `TRUNCATE` fires no row trigger; BEFORE TRUNCATE statement triggers
/// refuse it on every append-only table (also through `TRUNCATE ... CASCADE`). The
/// same fixed tag keys, and `schema_migrations` append-only.
///
/// Both: a folder table takes only rows inside their payload's record (row index
/// `0..nrows` of a recorded payload), so no row can be added to a payload once stored.
pub fn migration_3(d: Dialect) -> Vec<String> {
    let mut s = Vec::new();
    match d {
        Dialect::Sqlite => {
            for (t, key) in append_only_tables_of_3() {
                s.push(sqlite_no_replace(&t, &key));
            }
            s.push(
                "CREATE TRIGGER tags_keys_fixed BEFORE UPDATE ON tags WHEN NEW.rowid IS NOT OLD.rowid OR NEW.name IS NOT OLD.name OR NEW.created_at_us IS NOT OLD.created_at_us \
                 BEGIN SELECT RAISE(ABORT, 'a tag keeps its name and creation time'); END"
                    .into(),
            );
            for f in folders_at(3) {
                s.push(in_payload_trigger(&f.table(), d));
            }
            s.push("CREATE TRIGGER schema_migrations_no_update BEFORE UPDATE ON schema_migrations BEGIN SELECT RAISE(ABORT, 'schema_migrations is append-only'); END".into());
            s.push("CREATE TRIGGER schema_migrations_no_delete BEFORE DELETE ON schema_migrations BEGIN SELECT RAISE(ABORT, 'schema_migrations is append-only'); END".into());
        }
        Dialect::Postgres => {
            for (t, _) in append_only_tables_of_3() {
                s.push(format!("CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION gm2dqc_append_only()"));
            }
            s.push(
                "CREATE FUNCTION gm2dqc_tag_keys_fixed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.name IS DISTINCT FROM OLD.name OR NEW.created_at_us IS DISTINCT FROM OLD.created_at_us THEN \
                 RAISE EXCEPTION 'tag % keeps its name and creation time', OLD.name; END IF; RETURN NEW; END $$"
                    .into(),
            );
            s.push("CREATE TRIGGER tags_keys_fixed BEFORE UPDATE ON tags FOR EACH ROW EXECUTE FUNCTION gm2dqc_tag_keys_fixed()".into());
            s.push("CREATE TRIGGER schema_migrations_append_only BEFORE UPDATE OR DELETE ON schema_migrations FOR EACH ROW EXECUTE FUNCTION gm2dqc_append_only()".into());
            s.push(
                "CREATE FUNCTION gm2dqc_row_in_payload() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.row_index < 0 OR NEW.row_index >= COALESCE((SELECT nrows FROM payloads WHERE hash = NEW.payload_hash), 0) THEN \
                 RAISE EXCEPTION '%: row % is outside the rows of payload %', TG_TABLE_NAME, NEW.row_index, NEW.payload_hash; END IF; RETURN NEW; END $$"
                    .into(),
            );
            for f in folders_at(3) {
                s.push(in_payload_trigger(&f.table(), d));
            }
        }
    }
    s
}

/// Migration 4: what the web application needs.
///
/// - `web_users`: one row per user (name, role, a random salt and the SHA-256 of salt
///   and token, never the token; who created it, when). Rows are removed when a user
///   is removed, so this table is not append-only; `web_audit` keeps the record.
/// - `web_audit`: every write made through the web application (who, with which role,
///   what, on what, from where, when), append-only with the protections of migrations
///   1 and 3: no UPDATE or DELETE, and on SQLite no insert that would replace a row, on
///   PostgreSQL no TRUNCATE.
/// - `uploads.out_dir`: the output directory an upload came from (absolute and
///   canonical), NULL for the uploads made before this migration.
pub fn migration_4(d: Dialect) -> Vec<String> {
    let id = match d {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let mut s = vec![
        "CREATE TABLE web_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, salt TEXT NOT NULL, token_hash TEXT NOT NULL, \
         created_at_us BIGINT NOT NULL, created_by TEXT NOT NULL)"
            .to_string(),
        format!(
            "CREATE TABLE web_audit (id {id}, at_us BIGINT NOT NULL, user_name TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, \
             target TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', remote TEXT NOT NULL DEFAULT '')"
        ),
        "CREATE INDEX web_audit_at ON web_audit (at_us, id)".into(),
        "ALTER TABLE uploads ADD COLUMN out_dir TEXT".into(),
    ];
    match d {
        Dialect::Sqlite => {
            for t in APPEND_ONLY_SINCE_4 {
                s.extend(sqlite_append_only(t));
                s.push(sqlite_no_replace(t, &[]));
            }
        }
        Dialect::Postgres => {
            for t in APPEND_ONLY_SINCE_4 {
                s.extend(pg_append_only(t));
            }
        }
    }
    s
}

/// Migration 5: `uploads.required_flags`, the cut file's `required` list (JSON) of the
/// upload that judged its subruns: `ok` is the AND of these flags, and a good-subrun
/// list that ignores one of them ([`crate::db::good`]) needs to know which they were.
/// Every folder's upload row of an analysis carries it, as it carries `cuts_sha256`;
/// NULL for the uploads made before it.
///
/// And two covering indexes for those lists, which read a column or two of every
/// subrun of a dataset: `subrun` and `ok` of `f_subrun_status`, `subrun` and `ctags`
/// of `f_subrun_metrics`, by payload and row (an index scan, no row of the wide
/// table read).
pub fn migration_5() -> Vec<String> {
    vec![
        "ALTER TABLE uploads ADD COLUMN required_flags TEXT".into(),
        "CREATE INDEX f_subrun_status_ok ON f_subrun_status (payload_hash, row_index, subrun, ok)".into(),
        "CREATE INDEX f_subrun_metrics_ctags ON f_subrun_metrics (payload_hash, row_index, subrun, ctags)".into(),
    ]
}

/// The flags of the standard cut file when migration 7 was written: the columns of
/// `current_subrun_status` (a cut file's other flags are in its `flags_json`).
pub const VIEW_FLAGS: [&str; 10] = ["fills_ok", "ctags_ok", "ctags_loose_ok", "t0_ok", "kicker_ok", "quad_ok", "losses_ok", "laser_ok", "calo_ok", "tracker_ok"];

/// The view of the current rows of a folder: `current_<folder>`.
pub fn view_name(folder: &str) -> String {
    format!("current_{folder}")
}

/// "Interval `a` covers the point (`run`, `subrun`)", as [`crate::db::get`] reads it.
fn covers_sql(a: &str, run: &str, subrun: &str) -> String {
    format!(
        "({a}.first_run < {run} OR ({a}.first_run = {run} AND {a}.first_subrun <= {subrun})) \
         AND ({a}.end_run IS NULL OR {a}.end_run > {run} OR ({a}.end_run = {run} AND {a}.end_subrun > {subrun}))"
    )
}

/// The `CREATE VIEW` of `current_<folder>`: the rows `db get` gives now, for every
/// tag, with the point they are read at in plain columns, so that a plain
/// `SELECT ... WHERE tag = T AND run = R` is `db get FOLDER --tag T --run R`.
///
/// - Folders per interval of validity (`run_first`, `run_last`): one row per run the
///   interval covers at subrun 0 (a `run` column first; an open-ended interval, which
///   uploads never write, gives its first run only).
/// - Folders per subrun (`run`, `subrun`): each row where its own (run, subrun) is
///   covered; per run (`run`): at (run, 0).
///
/// A row is current when its insertion is the latest covering its point (the rule of
/// [`crate::db::get`]). `current_subrun_status` has one boolean column per flag of
/// [`VIEW_FLAGS`] (null when the upload's cut file has no such flag) and keeps
/// `flags_json` for the others.
///
/// `typed` (migration 8) gives the view the types an analyst expects: counts as
/// integers ([`crate::tables::count_columns`]; SQLite keeps a value that is not whole
/// as it is, PostgreSQL rounds it, the folder table keeps it exactly), and a UTC
/// timestamp beside each time of seconds since the epoch ([`crate::tables::TIMESTAMPS`]:
/// `timestamptz` in PostgreSQL, ISO 8601 text `2021-03-29T06:40:00.083333Z` in SQLite,
/// which has no time type; to the microsecond).
fn view_sql(f: &Folder, d: Dialect, typed: bool) -> String {
    let t = f.table();
    let has = |c: &str| f.columns.iter().any(|(n, _)| n == c);
    let later = |run: &str, subrun: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM iovs j WHERE j.tag = i.tag AND j.folder = i.folder AND {} \
             AND (j.inserted_at_us > i.inserted_at_us OR (j.inserted_at_us = i.inserted_at_us AND j.id > i.id)))",
            covers_sql("j", run, subrun)
        )
    };
    let counts = if typed { crate::tables::count_columns(f.name) } else { &[] };
    let stamps: &[(&str, &str)] = if typed && f.name == "subrun_metrics" { &crate::tables::TIMESTAMPS } else { &[] };
    let mut cols: Vec<String> = Vec::new();
    for (n, _) in &f.columns {
        let c = format!("r.\"{n}\"");
        cols.push(match (counts.contains(&n.as_str()), d) {
            (false, _) => c.clone(),
            (true, Dialect::Sqlite) => format!("CASE WHEN {c} = CAST({c} AS INTEGER) THEN CAST({c} AS INTEGER) ELSE {c} END AS \"{n}\""),
            (true, Dialect::Postgres) => format!("CAST(ROUND({c}) AS BIGINT) AS \"{n}\""),
        });
        if let Some((_, stamp)) = stamps.iter().find(|(secs, _)| secs == n) {
            // Guarded: an infinite time has no timestamp (a NaN is stored as NULL).
            cols.push(match d {
                Dialect::Sqlite => {
                    let us = format!("CAST(ROUND({c} * 1000000.0) AS INTEGER)");
                    format!("CASE WHEN {c} >= 0 AND {c} < 1e12 THEN strftime('%Y-%m-%dT%H:%M:%S', {us} / 1000000, 'unixepoch') || printf('.%06dZ', {us} % 1000000) END AS \"{stamp}\"")
                }
                Dialect::Postgres => format!("CASE WHEN abs({c}) < 1e12 THEN to_timestamp({c}) END AS \"{stamp}\""),
            });
        }
    }
    if f.name == "subrun_status" {
        let at = cols.iter().position(|c| c == "r.\"ok\"").map_or(cols.len(), |p| p + 1);
        let flags = VIEW_FLAGS.iter().map(|fl| match d {
            // `->>` with a bare label: SQLite reads it as the path `$.label` (a `$` in
            // the SQL would be taken for a placeholder); JSON true is 1.
            Dialect::Sqlite => format!("(r.flags_json ->> '{fl}') AS \"{fl}\""),
            Dialect::Postgres => format!("(r.flags_json::jsonb ->> '{fl}')::boolean AS \"{fl}\""),
        });
        cols.splice(at..at, flags);
    }
    let name = view_name(f.name);
    if has("run_first") {
        format!(
            "CREATE VIEW {name} AS WITH RECURSIVE spans (iov_id, run, last_run) AS (\
             SELECT id, first_run, COALESCE(end_run, first_run) FROM iovs WHERE folder = '{folder}' \
             UNION ALL SELECT iov_id, run + 1, last_run FROM spans WHERE run < last_run) \
             SELECT i.tag AS tag, s.run AS run, {cols} FROM spans s JOIN iovs i ON i.id = s.iov_id JOIN {t} r ON r.payload_hash = i.payload_hash \
             WHERE {covers} AND {later}",
            folder = f.name,
            cols = cols.join(", "),
            covers = covers_sql("i", "s.run", "0"),
            later = later("s.run", "0"),
        )
    } else {
        let subrun = if has("subrun") { "r.subrun" } else { "0" };
        format!(
            "CREATE VIEW {name} AS SELECT i.tag AS tag, {cols} FROM iovs i JOIN {t} r ON r.payload_hash = i.payload_hash \
             WHERE i.folder = '{folder}' AND {covers} AND {later}",
            folder = f.name,
            cols = cols.join(", "),
            covers = covers_sql("i", "r.run", subrun),
            later = later("r.run", subrun),
        )
    }
}

/// Migration 7: the views an analyst reads without the code: `current_<folder>` for
/// every folder ([`view_sql`]), and an index for the "later insertion" test they make;
/// and `uploads.summed_passing`, the flags a subrun had to pass to enter the gain sums
/// (the cut file's `sum_subruns_passing`, a JSON list, `[]` for every subrun; NULL for
/// the uploads before).
pub fn migration_7(d: Dialect) -> Vec<String> {
    let mut s = vec![
        "CREATE INDEX iovs_tag_folder_time ON iovs (tag, folder, inserted_at_us, id)".to_string(),
        "ALTER TABLE uploads ADD COLUMN summed_passing TEXT".to_string(),
    ];
    s.extend(folders_at(7).iter().map(|f| view_sql(f, d, false)));
    s
}

/// Migration 8: the views again, typed ([`view_sql`] with `typed`: integer counts and
/// UTC timestamps), and `column_units` (folder, column_name, unit): the unit of every
/// quantity of every folder ([`crate::tables::unit`]), for a plain SQL reader.
pub fn migration_8(d: Dialect) -> Vec<String> {
    let folders = folders_at(8);
    let mut s: Vec<String> = folders.iter().map(|f| format!("DROP VIEW {}", view_name(f.name))).collect();
    s.extend(folders.iter().map(|f| view_sql(f, d, true)));
    s.push("CREATE TABLE column_units (folder TEXT NOT NULL, column_name TEXT NOT NULL, unit TEXT NOT NULL, PRIMARY KEY (folder, column_name))".into());
    let rows: Vec<String> = folders
        .iter()
        .flat_map(|f| f.columns.iter().filter_map(|(c, _)| crate::tables::unit(f.name, c).map(|u| format!("('{}', '{c}', '{u}')", f.name))))
        .collect();
    s.push(format!("INSERT INTO column_units (folder, column_name, unit) VALUES {}", rows.join(", ")));
    s
}

/// The documented role setup (PostgreSQL): a reader that can only read, a writer that
/// can upload (locked tags refuse it by trigger) but never change or delete history.
/// The web application's users (`web_users`: token hashes) are the writer's only; the
/// writer may add and remove them, and append to `web_audit`, which the reader reads.
pub fn roles_sql() -> String {
    let mut tables: Vec<String> = ["tags", "uploads", "upload_inputs", "payloads", "iovs", "schema_migrations", "stage_log", "web_audit"].iter().map(|s| s.to_string()).collect();
    tables.extend(folders().iter().map(|f| f.table()));
    let list = tables.join(", ");
    // The views of migration 7 are read, never written.
    let views = folders().iter().map(|f| view_name(f.name)).collect::<Vec<_>>().join(", ");
    format!(
        "-- gm2dqc conditions database roles (PostgreSQL). Apply as the database owner.\n\
         DO $$ BEGIN CREATE ROLE gm2dqc_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n\
         DO $$ BEGIN CREATE ROLE gm2dqc_writer NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n\
         GRANT SELECT ON {list}, {views} TO gm2dqc_reader;\n\
         GRANT SELECT ON {list}, {views} TO gm2dqc_writer;\n\
         GRANT INSERT ON {list} TO gm2dqc_writer;\n\
         -- the writer may lock a tag (UPDATE of locked/locked_at) but never unlock one: the tags_stay_locked trigger refuses it\n\
         GRANT UPDATE (locked, locked_at_us) ON tags TO gm2dqc_writer;\n\
         -- the web application's users: only the writer (the web server's role) sees their token hashes\n\
         GRANT SELECT, INSERT, DELETE ON web_users TO gm2dqc_writer;\n\
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO gm2dqc_writer;\n\
         -- login roles: CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE gm2dqc_reader;\n"
    )
}
