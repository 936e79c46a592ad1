//! The PostgreSQL backend (the `postgres` crate, synchronous). Bulk rows go in with
//! binary COPY; an upload locks its tag's row (`SELECT ... FOR UPDATE`), so uploads
//! to one tag are serialised while other tags proceed. A connection lost mid-upload
//! leaves nothing: the server rolls the transaction back.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Transaction};

use super::payload::Value;
use super::schema::{ColType, Dialect};
use super::{Backend, DbError, Result, Tx};

pub struct Postgres {
    client: Client,
    location: String,
}

fn err(e: postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(d) => {
            let msg = d.message();
            if let Some(tag) = msg.strip_prefix("tag ").and_then(|m| m.strip_suffix(" is locked")) {
                return DbError::TagLocked(tag.to_string());
            }
            DbError::Backend(format!("{}: {msg}{}", d.severity(), d.detail().map(|x| format!(" ({x})")).unwrap_or_default()))
        }
        None => DbError::Backend(e.to_string()),
    }
}

/// The URL without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Postgres {
    pub fn connect(url: &str) -> Result<Self> {
        let client = Client::connect(url, NoTls).map_err(|e| DbError::Backend(format!("connecting to {}: {e}", redact(url))))?;
        Ok(Postgres { client, location: redact(url) })
    }
}

impl Backend for Postgres {
    fn begin(&mut self, _write: bool) -> Result<Box<dyn Tx + '_>> {
        Ok(Box::new(PgTx(self.client.transaction().map_err(err)?)))
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn alive(&mut self) -> bool {
        !self.client.is_closed()
    }
}

struct PgTx<'c>(Transaction<'c>);

fn param(v: &Value) -> Box<dyn ToSql + Sync + '_> {
    match v {
        Value::Null(ColType::Int) => Box::new(None::<i64>),
        Value::Null(ColType::Real) => Box::new(None::<f64>),
        Value::Null(ColType::Bool) => Box::new(None::<bool>),
        Value::Null(ColType::Text) => Box::new(None::<String>),
        Value::Int(i) => Box::new(*i),
        Value::Real(x) => Box::new(*x),
        Value::Bool(b) => Box::new(*b),
        Value::Text(s) => Box::new(s.as_str()),
    }
}

fn pg_type(t: ColType) -> Type {
    match t {
        ColType::Int => Type::INT8,
        ColType::Real => Type::FLOAT8,
        ColType::Bool => Type::BOOL,
        ColType::Text => Type::TEXT,
    }
}

impl Tx for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let boxed: Vec<Box<dyn ToSql + Sync + '_>> = params.iter().map(param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        if params.is_empty() {
            // DDL and other statements without parameters (may hold several commands).
            self.0.batch_execute(sql).map_err(err)?;
            return Ok(0);
        }
        self.0.execute(sql, &refs).map_err(err)
    }

    fn query(&mut self, sql: &str, params: &[Value], types: &[ColType]) -> Result<Vec<Vec<Value>>> {
        let boxed: Vec<Box<dyn ToSql + Sync + '_>> = params.iter().map(param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
        let rows = self.0.query(sql, &refs).map_err(err)?;
        rows.iter()
            .map(|row| {
                types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        Ok(match t {
                            ColType::Int => row.try_get::<_, Option<i64>>(i).map_err(err)?.map_or(Value::Null(*t), Value::Int),
                            ColType::Real => row.try_get::<_, Option<f64>>(i).map_err(err)?.map_or(Value::Null(*t), Value::Real),
                            ColType::Bool => row.try_get::<_, Option<bool>>(i).map_err(err)?.map_or(Value::Null(*t), Value::Bool),
                            ColType::Text => row.try_get::<_, Option<String>>(i).map_err(err)?.map_or(Value::Null(*t), Value::Text),
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn bulk_insert(&mut self, table: &str, columns: &[(String, ColType)], rows: &mut dyn Iterator<Item = Vec<Value>>) -> Result<u64> {
        let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let types: Vec<Type> = columns.iter().map(|(_, t)| pg_type(*t)).collect();
        let sink = self.0.copy_in(&format!("COPY {table} ({}) FROM STDIN BINARY", names.join(", "))).map_err(err)?;
        let mut w = BinaryCopyInWriter::new(sink, &types);
        let mut n = 0;
        for r in rows {
            let boxed: Vec<Box<dyn ToSql + Sync + '_>> = r.iter().map(param).collect();
            let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
            w.write(&refs).map_err(err)?;
            n += 1;
        }
        w.finish().map_err(err)?;
        Ok(n)
    }

    fn now_us(&mut self) -> Result<i64> {
        let row = self.0.query_one("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint", &[]).map_err(err)?;
        row.try_get(0).map_err(err)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        self.0.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(super::redact("postgres://alice:s3cret@db.fnal.gov/gm2"), "postgres://alice:***@db.fnal.gov/gm2");
        assert_eq!(super::redact("postgresql:///gm2?host=/tmp/x"), "postgresql:///gm2?host=/tmp/x");
    }
}
