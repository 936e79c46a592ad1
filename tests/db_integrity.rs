//! The conditions database never changes what it stored, whatever the client, and
//! never returns what it did not store: SQLite's REPLACE family and PostgreSQL's
//! TRUNCATE refused (migration 3), reads checked against the payload's row count and
//! content hash (pages of a real file damaged on disk, values tampered with), read-only
//! opening that creates nothing, unknown tags and folders named with the known ones.
//! Every test on SQLite and on a real PostgreSQL where the case exists on both.

use std::collections::BTreeMap;
use std::path::Path;

use gm2dqc::db::board::{self, State};
use gm2dqc::db::payload::{Payload, Value};
use gm2dqc::db::schema::{self, ColType, Dialect};
use gm2dqc::db::{self, Backend, DbError, Iov};

use crate::common::TempDir;
use crate::db::{counts, databases, exec_sql, gain_payload, prov};

/// Every row of every table of the schema, each value as text (SQLite: with the rowid,
/// which REPLACE changes), in a fixed order.
fn dump(b: &mut dyn Backend) -> BTreeMap<String, Vec<Vec<Value>>> {
    let mut tx = b.begin(false).unwrap();
    let d = tx.dialect();
    let mut out = BTreeMap::new();
    for (t, _) in schema::append_only_tables() {
        let names_sql = match d {
            Dialect::Sqlite => "SELECT name FROM pragma_table_info($1) ORDER BY cid",
            Dialect::Postgres => "SELECT CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        };
        let names: Vec<String> = tx.query(names_sql, &[Value::Text(t.clone())], &[ColType::Text]).unwrap().into_iter().map(|r| r[0].as_str().unwrap().to_string()).collect();
        assert!(!names.is_empty(), "table {t} has columns");
        let mut cols: Vec<String> = names.iter().map(|n| format!("CAST(\"{n}\" AS TEXT)")).collect();
        if d == Dialect::Sqlite {
            cols.insert(0, "CAST(rowid AS TEXT)".into());
        }
        let order: Vec<String> = (1..=cols.len()).map(|i| i.to_string()).collect();
        let rows = tx.query(&format!("SELECT {} FROM {t} ORDER BY {}", cols.join(", "), order.join(", ")), &[], &vec![ColType::Text; cols.len()]).unwrap();
        out.insert(t, rows);
    }
    out
}

/// A database with two tags (`gold` locked, `open` not), two uploads, a board entry,
/// an audit entry.
fn filled(b: &mut dyn Backend) {
    db::upload(b, "gold", &[(Iov::runs(1, 1), gain_payload(1.0)), (Iov::runs(2, 2), gain_payload(2.0))], &prov("ds")).unwrap();
    db::upload(b, "open", &[(Iov::runs(1, 1), gain_payload(3.0))], &prov("ds")).unwrap();
    db::lock_tag(b, "gold").unwrap();
    board::set(b, &board::Layout::gm2dqc(), &board::SetRequest::new("run3B", gm2dqc::job::Stage::Metrics, State::Done, "").new_dataset()).unwrap();
    let entry = db::users::AuditEntry { user: "alice".into(), role: db::users::Role::Shifter, action: "board.set".into(), target: "run3B/metrics".into(), detail: "done".into(), remote: "".into() };
    db::users::audit(b, &entry).unwrap();
}

/// Runs `sql` (with `$1` bound to `param` when given) in a transaction of its own,
/// rolled back; it must be refused by the schema's protections (not, say, a typo).
fn refused(b: &mut dyn Backend, label: &str, sql: &str, param: Option<Value>) {
    let mut tx = b.begin(true).unwrap();
    let r = match param {
        Some(p) => tx.exec(sql, &[p]),
        None => tx.exec(sql, &[]),
    };
    let e = match r {
        Ok(n) => panic!("{label}: `{sql}` must be refused, it changed {n} rows"),
        Err(e) => e.to_string(),
    };
    let why = ["append-only", "never replaced", "is locked", "keeps its name", "outside the rows", "never deleted", "cannot be changed", "referenced in a foreign key"];
    assert!(why.iter().any(|w| e.contains(w)), "{label}: `{sql}` refused for another reason: {e}");
}

#[test]
fn replace_upsert_and_truncate_cannot_change_what_was_stored() {
    for (label, url, _dir) in databases("replace") {
        let mut b = db::open(&url).unwrap();
        filled(b.as_mut());
        let before = dump(b.as_mut());
        let (gold_1, open_1) = (db::get(b.as_mut(), "gold", "gain_constants", (1, 0), None).unwrap().unwrap(), db::get(b.as_mut(), "open", "gain_constants", (1, 0), None).unwrap().unwrap());
        let sqlite = label == "sqlite";
        let t = if sqlite { Value::Int(1) } else { Value::Bool(true) };
        let f = if sqlite { Value::Int(0) } else { Value::Bool(false) };
        // Upserts, the same SQL on both databases.
        for (sql, p) in [
            ("INSERT INTO tags (name, created_at_us) VALUES ('gold', 1) ON CONFLICT (name) DO UPDATE SET locked = $1", f.clone()),
            ("INSERT INTO tags (name, created_at_us) VALUES ('open', 1) ON CONFLICT (name) DO UPDATE SET created_at_us = 2 WHERE $1", t.clone()),
            ("INSERT INTO payloads (hash, folder, nrows, created_at_us) SELECT hash, folder, 1, 1 FROM payloads WHERE $1 ON CONFLICT (hash) DO UPDATE SET nrows = 1", t.clone()),
            ("INSERT INTO f_gain_constants (payload_hash, row_index, gain) SELECT payload_hash, row_index, 5 FROM f_gain_constants WHERE $1 ON CONFLICT (payload_hash, row_index) DO UPDATE SET gain = excluded.gain", t.clone()),
            ("INSERT INTO schema_migrations (version, applied_at_us) VALUES (1, 0) ON CONFLICT (version) DO UPDATE SET applied_at_us = 0 WHERE $1", t.clone()),
            // No row is added to a stored payload, nor rows without a payload record.
            ("INSERT INTO f_gain_constants (payload_hash, row_index, gain) SELECT hash, nrows, 1 FROM payloads WHERE $1", t.clone()),
            ("INSERT INTO f_gain_constants (payload_hash, row_index, gain) SELECT hash, -1, 1 FROM payloads WHERE $1", t.clone()),
            // A tag keeps its name and creation time, locked or not.
            ("UPDATE tags SET name = 'renamed' WHERE name = 'open' AND $1", t.clone()),
            ("UPDATE tags SET created_at_us = 0 WHERE name = 'open' AND $1", t.clone()),
            // Plain deletes and updates of each kind of history.
            ("DELETE FROM tags WHERE $1", t.clone()),
            ("UPDATE uploads SET dataset = 'forged' WHERE $1", t.clone()),
            ("DELETE FROM upload_inputs WHERE $1", t.clone()),
            ("UPDATE iovs SET first_run = 99 WHERE $1", t.clone()),
            ("DELETE FROM stage_log WHERE $1", t.clone()),
            ("UPDATE web_audit SET user_name = 'mallory' WHERE $1", t.clone()),
            ("DELETE FROM web_audit WHERE $1", t.clone()),
            ("UPDATE schema_migrations SET applied_at_us = 0 WHERE $1", t.clone()),
            ("DELETE FROM schema_migrations WHERE $1", t.clone()),
        ] {
            refused(b.as_mut(), &label, sql, Some(p));
        }
        if sqlite {
            // REPLACE deletes the conflicting row without firing its DELETE trigger.
            for sql in [
                "REPLACE INTO tags (name, description, locked, created_at_us) VALUES ('gold', '', 0, 1)",
                "INSERT OR REPLACE INTO tags (name, locked, created_at_us) VALUES ('gold', 0, 1)",
                "UPDATE OR REPLACE tags SET name = 'gold' WHERE name = 'open'",
                "UPDATE OR REPLACE tags SET rowid = (SELECT rowid FROM tags WHERE name = 'gold') WHERE name = 'open'",
                "INSERT OR REPLACE INTO payloads (hash, folder, nrows, created_at_us) SELECT hash, folder, 1, 1 FROM payloads",
                "INSERT OR REPLACE INTO payloads (rowid, hash, folder, nrows, created_at_us) SELECT rowid, 'forged' || rowid, folder, 1, 1 FROM payloads",
                "REPLACE INTO f_gain_constants (payload_hash, row_index, gain) SELECT payload_hash, row_index, 99 FROM f_gain_constants WHERE row_index = 0",
                "INSERT OR REPLACE INTO f_gain_constants (rowid, payload_hash, row_index, gain) SELECT rowid, payload_hash, 100000 + row_index, 99 FROM f_gain_constants WHERE row_index = 0",
                "REPLACE INTO iovs (id, tag, folder, first_run, first_subrun, payload_hash, upload_id, inserted_at_us) \
                 SELECT id, tag, folder, 99, 0, payload_hash, upload_id, inserted_at_us FROM iovs WHERE tag = 'open'",
                "REPLACE INTO uploads SELECT id, created_at_us, tag, folder, 'forged', software_version, git_commit, cuts_sha256, user_name, host, command_line, out_dir, required_flags, summed_passing FROM uploads",
                "REPLACE INTO web_audit (id, at_us, user_name, role, action) SELECT id, at_us, 'mallory', role, action FROM web_audit",
                "INSERT OR REPLACE INTO upload_inputs (rowid, upload_id, path, size, sha256) SELECT rowid, upload_id, '/forged', size, sha256 FROM upload_inputs",
                "REPLACE INTO stage_log (id, dataset, stage, state, user_name, host, at_us, note) SELECT id, dataset, stage, 'Held', user_name, host, at_us, note FROM stage_log",
                "REPLACE INTO schema_migrations (version, applied_at_us) VALUES (1, 0)",
            ] {
                refused(b.as_mut(), &label, sql, None);
            }
            // The same with recursive triggers off explicitly (the client's choice).
            {
                let mut tx = b.begin(true).unwrap();
                tx.exec("PRAGMA recursive_triggers = OFF", &[]).unwrap();
                assert!(tx.exec("REPLACE INTO tags (name, description, locked, created_at_us) VALUES ('gold', '', 0, 1)", &[]).is_err(), "{label}");
            }
            // (A row trigger has nothing to refuse in an empty table.)
            for (table, _) in schema::append_only_tables().into_iter().filter(|(t, _)| !before[t].is_empty()) {
                refused(b.as_mut(), &label, &format!("DELETE FROM {table}"), None);
            }
        } else {
            for (table, _) in schema::append_only_tables() {
                refused(b.as_mut(), &label, &format!("TRUNCATE {table}"), None);
                refused(b.as_mut(), &label, &format!("TRUNCATE {table} CASCADE"), None);
            }
            refused(b.as_mut(), &label, "TRUNCATE iovs, payloads, uploads, upload_inputs, f_gain_constants", None);
        }
        assert_eq!(dump(b.as_mut()), before, "{label}: every stored row unchanged");
        assert_eq!(db::get(b.as_mut(), "gold", "gain_constants", (1, 0), None).unwrap().unwrap(), gold_1, "{label}");
        assert_eq!(db::get(b.as_mut(), "open", "gain_constants", (1, 0), None).unwrap().unwrap(), open_1, "{label}");
        let e = db::upload(b.as_mut(), "gold", &[(Iov::runs(3, 3), gain_payload(4.0))], &prov("ds")).unwrap_err();
        assert!(matches!(e, DbError::TagLocked(ref t) if t == "gold"), "{label}: gold stays locked: {e}");
        // gm2dqc's own writes still work: a new tag, a payload shared with another tag.
        let r = db::upload(b.as_mut(), "open", &[(Iov::runs(5, 5), gain_payload(1.0))], &prov("ds")).unwrap();
        assert_eq!((r.written, r.new_payloads), (1, 0), "{label}");
        assert!(db::create_tag(b.as_mut(), "fresh", "").unwrap() && !db::create_tag(b.as_mut(), "fresh", "").unwrap(), "{label}");
    }
}

/// A database at schema version 2, made with the statements of migrations 1 and 2
/// only (what a gm2dqc before migration 3 left).
fn make_version_2(label: &str, url: &str) {
    let d = if label == "sqlite" { Dialect::Sqlite } else { Dialect::Postgres };
    let mut sql = vec!["CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_us BIGINT NOT NULL)".to_string()];
    sql.extend(schema::migration_1(d));
    sql.extend(schema::migration_2(d));
    sql.push("INSERT INTO schema_migrations (version, applied_at_us) VALUES (1, 1), (2, 2)".into());
    exec_sql(d, url, &sql);
}

#[test]
fn an_existing_version_2_database_gets_migration_3_when_opened() {
    for (label, url, _dir) in databases("migrate3") {
        make_version_2(&label, &url);
        // Read as it is, not migrated by a reader.
        let mut r = db::open_existing(&url).unwrap();
        assert_eq!(db::tags(r.as_mut()).unwrap(), [], "{label}");
        drop(r);
        let mut b = db::open(&url).unwrap();
        {
            let mut tx = b.begin(false).unwrap();
            let v = tx.query("SELECT MAX(version) FROM schema_migrations", &[], &[ColType::Int]).unwrap();
            assert_eq!(v[0][0], Value::Int(schema::SCHEMA_VERSION), "{label}");
            assert_eq!(schema::SCHEMA_VERSION, 8);
        }
        filled(b.as_mut());
        let before = dump(b.as_mut());
        if label == "sqlite" {
            refused(b.as_mut(), &label, "REPLACE INTO tags (name, description, locked, created_at_us) VALUES ('gold', '', 0, 1)", None);
            refused(b.as_mut(), &label, "REPLACE INTO iovs (id, tag, folder, first_run, first_subrun, payload_hash, upload_id, inserted_at_us) SELECT id, tag, folder, 99, 0, payload_hash, upload_id, inserted_at_us FROM iovs WHERE tag = 'open'", None);
        } else {
            refused(b.as_mut(), &label, "TRUNCATE iovs CASCADE", None);
        }
        assert_eq!(dump(b.as_mut()), before, "{label}");
        // Opening again applies nothing twice.
        drop(b);
        let mut b = db::open(&url).unwrap();
        assert_eq!(dump(b.as_mut()), before, "{label}");
    }
}

#[test]
fn on_postgres_only_the_owner_applies_migration_3_and_readers_read_meanwhile() {
    let Some((_, url, _dir)) = databases("owner").into_iter().find(|(l, _, _)| l == "postgres") else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no PostgreSQL test server");
        eprintln!("skipped: no PostgreSQL test server");
        return;
    };
    make_version_2("postgres", &url);
    let dbname = url.split("///").nth(1).unwrap().split('?').next().unwrap().to_string();
    let (r, w) = (format!("r_{dbname}"), format!("w_{dbname}"));
    let mut owner = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    owner
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {r}; CREATE ROLE {r} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r}; \
             DROP ROLE IF EXISTS {w}; CREATE ROLE {w} LOGIN; GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {w}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {w}; GRANT UPDATE (locked, locked_at_us) ON tags TO {w}"
        ))
        .unwrap();
    let as_user = |role: &str| url.replace("user=postgres", &format!("user={role}"));
    let e = db::open(&as_user(&w)).err().expect("a writer cannot add triggers");
    assert!(matches!(&e, DbError::Migration { version: 3, .. }), "{e:?}");
    assert!(e.to_string().contains("run `gm2dqc db init` as the owner"), "{e}");
    let mut reader = db::open_existing(&as_user(&r)).unwrap();
    assert_eq!(db::tags(reader.as_mut()).unwrap(), [], "the reader reads the version-2 database");
    let versions = |c: &mut postgres::Client| c.query_one("SELECT MAX(version) FROM schema_migrations", &[]).unwrap().get::<_, i64>(0);
    assert_eq!(versions(&mut owner), 2, "nothing of the failed migration");
    db::open(&url).unwrap();
    assert_eq!(versions(&mut owner), schema::SCHEMA_VERSION);
    let mut writer = db::open(&as_user(&w)).unwrap();
    db::upload(writer.as_mut(), "t", &[(Iov::runs(1, 1), gain_payload(1.0))], &prov("ds")).unwrap();
    assert!(db::get(reader.as_mut(), "t", "gain_constants", (1, 0), None).unwrap().is_some());
}

/// The page-size and a page of a SQLite file.
fn page_size(file: &[u8]) -> usize {
    match u16::from_be_bytes([file[16], file[17]]) {
        1 => 65536,
        n => n as usize,
    }
}

/// A leaf page of the b-tree rooted at `root`, reached through the middle child of
/// every interior page: a page in the middle of the tree, not its first or last.
fn middle_leaf(file: &[u8], root: u32) -> usize {
    let ps = page_size(file);
    let mut pgno = root as usize;
    for _ in 0..32 {
        let page = &file[(pgno - 1) * ps..pgno * ps];
        let h = if pgno == 1 { 100 } else { 0 };
        match page[h] {
            10 | 13 => return pgno,
            2 | 5 => {
                let ncell = u16::from_be_bytes([page[h + 3], page[h + 4]]) as usize;
                assert!(ncell >= 2, "interior page {pgno} has {ncell} cells");
                let at = h + 12 + 2 * (ncell / 2);
                let cell = u16::from_be_bytes([page[at], page[at + 1]]) as usize;
                pgno = u32::from_be_bytes([page[cell], page[cell + 1], page[cell + 2], page[cell + 3]]) as usize;
            }
            t => panic!("page {pgno} has b-tree page type {t}"),
        }
    }
    panic!("no leaf under page {root}")
}

/// Uploads one 1296-row payload to tag `t` of a new SQLite file, closes it with the
/// write-ahead log folded in, and returns (path, payload, root page of the folder
/// table, root page of its primary-key index).
fn sqlite_file_with_a_payload(dir: &TempDir) -> (std::path::PathBuf, Payload, u32, u32) {
    let path = dir.0.join("conditions.sqlite");
    let p = gain_payload(1.0);
    {
        let mut b = db::open(path.to_str().unwrap()).unwrap();
        db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), p.clone())], &prov("ds")).unwrap();
        assert_eq!(db::get(b.as_mut(), "t", "gain_constants", (1, 0), None).unwrap().unwrap().1, p);
    }
    let c = rusqlite::Connection::open(&path).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)).unwrap();
    let table: u32 = c.query_row("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'f_gain_constants'", [], |r| r.get(0)).unwrap();
    let index: u32 = c.query_row("SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'f_gain_constants'", [], |r| r.get(0)).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(c);
    assert!(!Path::new(&format!("{}-wal", path.display())).exists(), "everything is in the main file");
    (path, p, table, index)
}

fn hash_rows(path: &Path, hash: &str) -> rusqlite::Result<i64> {
    rusqlite::Connection::open(path)?.query_row("SELECT COUNT(*) FROM f_gain_constants WHERE payload_hash = ?1", [hash], |r| r.get(0))
}

#[test]
fn a_damaged_index_page_is_a_typed_error_not_a_short_read() {
    let dir = TempDir::new("db-damaged-index");
    let (path, p, _, index) = sqlite_file_with_a_payload(&dir);
    // One page of the payload rows' index, in the middle of the file's tree, says it
    // holds one entry instead of its dozens: SQLite reads past it without a word.
    let mut file = std::fs::read(&path).unwrap();
    let ps = page_size(&file);
    let leaf = middle_leaf(&file, index);
    let at = (leaf - 1) * ps;
    let ncell = u16::from_be_bytes([file[at + 3], file[at + 4]]);
    assert!(ncell > 2, "the leaf holds {ncell} entries");
    file[at + 3..at + 5].copy_from_slice(&1u16.to_be_bytes());
    std::fs::write(&path, &file).unwrap();
    let short = hash_rows(&path, &p.hash()).expect("the damage is silent to SQLite");
    assert_eq!(short, 1296 - i64::from(ncell) + 1, "plain SQL reads a short payload without an error");

    let url = path.display().to_string();
    for mut b in [db::open_existing(&url).unwrap(), db::open(&url).unwrap()] {
        let e = db::get(b.as_mut(), "t", "gain_constants", (1, 5), None).unwrap_err();
        match &e {
            DbError::Corrupt { folder, tag, iov, payload, expected_rows, found_rows, .. } => {
                assert_eq!((folder.as_str(), tag.as_str(), *iov, payload.as_str()), ("gain_constants", "t", Iov::runs(1, 1), p.hash().as_str()));
                assert_eq!((*expected_rows, *found_rows as i64), (Some(1296), short));
            }
            other => panic!("expected DbError::Corrupt, got {other}"),
        }
        let msg = e.to_string();
        for part in ["gain_constants", "tag `t`", "[1.0, 2.0)", &p.hash()[..12], "1296 rows", &format!("{short} were read"), "Restore the database from a backup"] {
            assert!(msg.contains(part), "`{part}` in: {msg}");
        }
        // The same content again is not "already current": the damage is reported.
        let again = db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), p.clone())], &prov("ds"));
        assert!(matches!(again, Err(DbError::Corrupt { ref tag, found_rows, .. }) if tag == "t" && found_rows as i64 == short), "{again:?}");
        // Nor is another tag made to rely on the damaged payload.
        let other = db::upload(b.as_mut(), "t2", &[(Iov::runs(1, 1), p.clone())], &prov("ds"));
        assert!(matches!(other, Err(DbError::Corrupt { ref tag, .. }) if tag == "t2"), "{other:?}");
        assert!(matches!(db::get(b.as_mut(), "t2", "gain_constants", (1, 0), None), Err(DbError::NoTag { .. })), "nothing of the refused upload");
    }
}

#[test]
fn a_damaged_table_page_is_named_as_damage() {
    let dir = TempDir::new("db-damaged-table");
    let (path, p, table, _) = sqlite_file_with_a_payload(&dir);
    let mut file = std::fs::read(&path).unwrap();
    let ps = page_size(&file);
    let leaf = middle_leaf(&file, table);
    for byte in &mut file[(leaf - 1) * ps..leaf * ps] {
        *byte = 0xa5;
    }
    std::fs::write(&path, &file).unwrap();
    assert!(hash_rows(&path, &p.hash()).is_ok(), "counting through the index does not touch the table");
    let url = path.display().to_string();
    let mut b = db::open_existing(&url).unwrap();
    let e = db::get(b.as_mut(), "t", "gain_constants", (1, 0), None).unwrap_err();
    assert!(matches!(&e, DbError::Damaged { location, .. } if *location == url), "{e:?}");
    assert!(e.to_string().contains("restore it from a backup"), "{e}");
    let again = db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), p)], &prov("ds"));
    assert!(matches!(again, Err(DbError::Damaged { .. })), "not `already current`: {again:?}");
}

#[test]
fn tampered_rows_fail_the_count_and_hash_checks() {
    for (label, url, _dir) in databases("tamper") {
        let mut b = db::open(&url).unwrap();
        let (p1, p2, p3) = (gain_payload(1.0), gain_payload(2.0), gain_payload(3.0));
        db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), p1.clone()), (Iov::runs(2, 2), p2.clone()), (Iov::runs(3, 3), p3.clone())], &prov("ds")).unwrap();
        // A client with the owner's rights that drops the protections.
        {
            let mut tx = b.begin(true).unwrap();
            let drops: &[&str] = if label == "sqlite" {
                &["DROP TRIGGER f_gain_constants_no_update", "DROP TRIGGER f_gain_constants_no_delete", "DROP TRIGGER payloads_no_delete"]
            } else {
                &["DROP TRIGGER f_gain_constants_append_only ON f_gain_constants"]
            };
            for s in drops {
                tx.exec(s, &[]).unwrap();
            }
            let h = |p: &Payload| Value::Text(p.hash());
            assert_eq!(tx.exec("UPDATE f_gain_constants SET gain = gain + 1 WHERE payload_hash = $1 AND row_index = 5", &[h(&p1)]).unwrap(), 1);
            assert_eq!(tx.exec("DELETE FROM f_gain_constants WHERE payload_hash = $1 AND row_index = 1295", &[h(&p2)]).unwrap(), 1);
            tx.commit().unwrap();
        }
        let get = |b: &mut Box<dyn Backend>, run| db::get(b.as_mut(), "t", "gain_constants", (run, 0), None);
        match get(&mut b, 1) {
            Err(DbError::Corrupt { expected_rows: Some(1296), found_rows: 1296, found_hash: Some(ref h), ref payload, .. }) => {
                assert_eq!(payload, &p1.hash(), "{label}");
                assert_ne!(h, &p1.hash(), "{label}");
            }
            other => panic!("{label}: a changed value: {other:?}"),
        }
        assert!(matches!(get(&mut b, 2), Err(DbError::Corrupt { expected_rows: Some(1296), found_rows: 1295, .. })), "{label}: a row missing");
        assert_eq!(get(&mut b, 3).unwrap().unwrap().1, p3, "{label}: the intact payload reads");
        // A read of some columns checks the row count (the hash needs every column).
        let cols = |b: &mut Box<dyn Backend>, run| db::get_columns(b.as_mut(), "t", "gain_constants", (run, 0), None, &["calo", "gain"]);
        assert!(matches!(cols(&mut b, 2), Err(DbError::Corrupt { expected_rows: Some(1296), found_rows: 1295, found_hash: None, .. })), "{label}: a row missing, some columns");
        let (_, hash, part) = cols(&mut b, 3).unwrap().unwrap();
        assert_eq!((hash, part.rows.len(), part.folder.columns.len()), (p3.hash(), 1296, 2), "{label}");
        assert!(part.rows.iter().zip(&p3.rows).all(|(a, r)| a[1] == r[p3.folder.columns.iter().position(|(n, _)| n == "gain").unwrap()]), "{label}: the gain column as stored");
        assert!(matches!(cols(&mut b, 3), Ok(_)) && matches!(db::get_columns(b.as_mut(), "t", "gain_constants", (3, 0), None, &["nope"]), Err(DbError::Payload(_))), "{label}: an unknown column");
        for (run, p) in [(1, &p1), (2, &p2)] {
            let r = db::upload(b.as_mut(), "t", &[(Iov::runs(run, run), p.clone())], &prov("ds"));
            assert!(matches!(r, Err(DbError::Corrupt { .. })), "{label}: re-upload of run {run} is not `already current`: {r:?}");
        }
        if label == "sqlite" {
            // Rows without their payload record (SQLite enforces foreign keys only when
            // the connection asks).
            let c = rusqlite::Connection::open(&url).unwrap();
            c.pragma_update(None, "foreign_keys", "OFF").unwrap();
            assert_eq!(c.execute("DELETE FROM payloads WHERE hash = ?1", [p3.hash()]).unwrap(), 1);
            drop(c);
            let e = get(&mut b, 3).unwrap_err();
            assert!(matches!(e, DbError::Corrupt { expected_rows: None, found_rows: 1296, .. }), "{e:?}");
            assert!(e.to_string().contains("payload record is missing"), "{e}");
        }
    }
}

/// A gain_constants payload of 3 rows with a NaN and a -0.0 among its reals.
fn payload_with_nan_and_negative_zero() -> (Payload, usize) {
    let folder = schema::folder("gain_constants").unwrap();
    let real = folder.columns.iter().position(|(_, t)| *t == ColType::Real).unwrap();
    let rows = (0..3)
        .map(|i| {
            folder
                .columns
                .iter()
                .enumerate()
                .map(|(j, (_, t))| match t {
                    ColType::Real if j == real => Value::Real([f64::NAN, -0.0, 1.5][i]),
                    ColType::Real => Value::Real(i as f64),
                    ColType::Int => Value::Int(i as i64),
                    ColType::Bool => Value::Bool(i == 1),
                    ColType::Text => Value::Text(format!("r{i}")),
                })
                .collect()
        })
        .collect();
    (Payload { folder, rows }, real)
}

#[test]
fn nan_and_negative_zero_are_stored_canonical_and_verify() {
    for (label, url, _dir) in databases("canonical") {
        let mut b = db::open(&url).unwrap();
        let (p, real) = payload_with_nan_and_negative_zero();
        let r = db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), p.clone())], &prov("ds")).unwrap();
        assert_eq!(r.written, 1, "{label}");
        let (_, got) = db::get(b.as_mut(), "t", "gain_constants", (1, 0), None).unwrap().unwrap();
        assert_eq!(got.rows[0][real], Value::Null(ColType::Real), "{label}: a NaN is stored as null");
        assert!(matches!(got.rows[1][real], Value::Real(z) if z == 0.0 && z.is_sign_positive()), "{label}: -0.0 as 0.0");
        assert_eq!(got, p.clone().canonical(), "{label}");
        assert_eq!(db::history(b.as_mut(), "t", "gain_constants").unwrap()[0].payload_hash, got.hash(), "{label}: named by what is stored");
        let again = db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), p)], &prov("ds")).unwrap();
        assert_eq!((again.upload_id, again.unchanged), (None, 1), "{label}: the same content is current");
    }
}

#[test]
fn payloads_stored_before_canonical_uploads_still_read_on_sqlite() {
    // What a gm2dqc before migration 3 left: a payload named by the hash of its NaN,
    // stored by SQLite as NULL.
    let dir = TempDir::new("db-legacy");
    let url = dir.0.join("conditions.sqlite").display().to_string();
    let mut b = db::open(&url).unwrap();
    db::create_tag(b.as_mut(), "old", "").unwrap();
    db::create_tag(b.as_mut(), "new", "").unwrap();
    let (p, _) = payload_with_nan_and_negative_zero();
    let legacy_name = p.hash();
    let (p_new, _) = {
        let (mut q, real) = payload_with_nan_and_negative_zero();
        q.rows[2][real] = Value::Real(2.5);
        (q, real)
    };
    let since = {
        let mut tx = b.begin(false).unwrap();
        tx.query("SELECT applied_at_us FROM schema_migrations WHERE version = 3", &[], &[ColType::Int]).unwrap()[0][0].as_i64().unwrap()
    };
    // The same rows under their non-canonical names: one stored before migration 3, one after.
    for (tag, payload, created) in [("old", &p, since - 1_000_000), ("new", &p_new, since + 1)] {
        let name = payload.hash();
        let mut tx = b.begin(true).unwrap();
        tx.exec(
            "INSERT INTO uploads (created_at_us, tag, folder, dataset, software_version, git_commit, user_name, host, command_line) VALUES ($1, $2, 'gain_constants', 'ds', 'old', 'c', 'u', 'h', 'c')",
            &[Value::Int(created), Value::Text(tag.into())],
        )
        .unwrap();
        tx.exec("INSERT INTO payloads (hash, folder, nrows, created_at_us) VALUES ($1, 'gain_constants', 3, $2)", &[Value::Text(name.clone()), Value::Int(created)]).unwrap();
        let mut cols = vec![("payload_hash".to_string(), ColType::Text), ("row_index".to_string(), ColType::Int)];
        cols.extend(payload.folder.columns.iter().cloned());
        let mut rows = payload.rows.iter().enumerate().map(|(i, r)| {
            let mut v = vec![Value::Text(name.clone()), Value::Int(i as i64)];
            v.extend(r.iter().cloned());
            v
        });
        tx.bulk_insert("f_gain_constants", &cols, &mut rows).unwrap();
        tx.exec(
            "INSERT INTO iovs (tag, folder, first_run, first_subrun, end_run, end_subrun, payload_hash, upload_id, inserted_at_us) \
             SELECT $1, 'gain_constants', 1, 0, 2, 0, $2, MAX(id), $3 FROM uploads",
            &[Value::Text(tag.into()), Value::Text(name), Value::Int(created)],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let (_, got) = db::get(b.as_mut(), "old", "gain_constants", (1, 0), None).unwrap().unwrap();
    assert_eq!(got, p.clone().canonical(), "the legacy payload reads: its count is right, its hash cannot be checked");
    assert_ne!(got.hash(), legacy_name);
    let e = db::get(b.as_mut(), "new", "gain_constants", (1, 0), None).unwrap_err();
    assert!(matches!(e, DbError::Corrupt { expected_rows: Some(3), found_rows: 3, found_hash: Some(_), .. }), "stored after migration 3, a mismatch is damage: {e:?}");
    // Uploading the legacy content again stores it canonical, under its canonical name.
    let r = db::upload(b.as_mut(), "old", &[(Iov::runs(1, 1), p.clone())], &prov("ds")).unwrap();
    assert_eq!((r.written, r.new_payloads), (1, 1));
    assert_eq!(db::history(b.as_mut(), "old", "gain_constants").unwrap()[1].payload_hash, p.canonical().hash());
}

#[test]
fn read_only_opening_creates_nothing_and_names_what_is_missing() {
    let dir = TempDir::new("db-open-existing");
    let missing = dir.0.join("out").join("conditions.sqlite");
    for url in [missing.display().to_string(), format!("sqlite:{}", missing.display())] {
        let e = db::open_existing(&url).err().expect("no database there");
        assert!(matches!(&e, DbError::NoDatabase(p) if *p == missing), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("no conditions database at {}", missing.display())), "{msg}");
        assert!(msg.contains("OUT/conditions.sqlite") && msg.contains("--db") && msg.contains("$GM2DQC_DB"), "{msg}");
    }
    assert!(!missing.exists() && !dir.0.join("out").exists(), "neither the file nor its directory is created");
    // A directory is no database either (e.g. OUT given for OUT/conditions.sqlite).
    assert!(matches!(db::open_existing(dir.0.to_str().unwrap()), Err(DbError::NoDatabase(_))));
    // A file that is not a conditions database.
    let empty = dir.0.join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    let e = db::open_existing(empty.to_str().unwrap()).err().expect("no schema");
    assert!(matches!(&e, DbError::NoSchema(l) if l.contains("empty.sqlite")), "{e:?}");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "nothing written into it");
    let text = dir.0.join("notes.sqlite");
    std::fs::write(&text, "not a database, a text file long enough to have a header............................................................").unwrap();
    assert!(matches!(db::open_existing(text.to_str().unwrap()), Err(DbError::Damaged { .. })), "a file that is not SQLite is named as such");

    for (label, url, _dir) in databases("existing") {
        if label == "postgres" {
            let e = db::open_existing(&url).err().expect("an empty PostgreSQL database");
            assert!(matches!(e, DbError::NoSchema(_)), "{label}: {e:?}");
        }
        db::open(&url).unwrap();
        let mut b = db::open_existing(&url).unwrap();
        assert!(db::tags(b.as_mut()).unwrap().is_empty(), "{label}");
        assert!(board::board(b.as_mut(), &board::Layout::gm2dqc()).unwrap().is_empty(), "{label}");
    }
}

#[test]
fn unknown_tags_and_folders_are_named_with_the_known_ones() {
    for (label, url, _dir) in databases("unknown") {
        let mut b = db::open(&url).unwrap();
        let e = db::get(b.as_mut(), "v1", "gain_constants", (1, 0), None).unwrap_err();
        assert!(matches!(&e, DbError::NoTag { tag, known } if tag == "v1" && known.is_empty()), "{label}: {e:?}");
        assert!(e.to_string().contains("no tag `v1`") && e.to_string().contains("none yet"), "{e}");
        db::upload(b.as_mut(), "v2", &[(Iov::runs(1, 1), gain_payload(1.0))], &prov("ds")).unwrap();
        db::create_tag(b.as_mut(), "v1", "").unwrap();
        let mut r = db::open_existing(&url).unwrap();
        let known = vec!["v1".to_string(), "v2".to_string()];
        for e in [
            db::get(r.as_mut(), "v3", "gain_constants", (1, 0), None).unwrap_err(),
            db::history(r.as_mut(), "v3", "gain_constants").unwrap_err(),
            db::lock_tag(r.as_mut(), "v3").unwrap_err(),
        ] {
            assert!(matches!(&e, DbError::NoTag { tag, known: k } if tag == "v3" && *k == known), "{label}: {e:?}");
            assert!(e.to_string().contains("known tags: v1, v2"), "{label}: {e}");
        }
        // A tag that exists but has nothing there: no constants, not an unknown tag.
        assert!(db::get(r.as_mut(), "v1", "gain_constants", (1, 0), None).unwrap().is_none(), "{label}");
        assert!(db::history(r.as_mut(), "v1", "gain_constants").unwrap().is_empty(), "{label}");
        assert!(db::get(r.as_mut(), "v2", "gain_constants", (9, 0), None).unwrap().is_none(), "{label}");
        for e in [db::get(r.as_mut(), "v2", "gains", (1, 0), None).unwrap_err(), db::history(r.as_mut(), "v2", "gains").unwrap_err()] {
            let folders: Vec<String> = schema::folders().iter().map(|f| f.name.to_string()).collect();
            assert!(matches!(&e, DbError::NoFolder { folder, known } if folder == "gains" && *known == folders), "{label}: {e:?}");
            assert!(e.to_string().contains("gain_constants, calo_channel_status, tracker_channel_status, subrun_metrics, subrun_status"), "{e}");
        }
        assert_eq!(counts(b.as_mut())["iovs"], 1, "{label}");
    }
}
