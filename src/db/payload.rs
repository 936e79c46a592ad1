//! Payloads: the rows of one folder for one interval, converted from and to polars
//! DataFrames, identified by a content hash.

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::schema::{self, ColType, Folder};
use super::DbError;

/// One SQL value. `Null` carries its column type (PostgreSQL needs typed nulls).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null(ColType),
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value as every backend stores and returns it: a NaN as null (SQLite stores
    /// a bound NaN as NULL) and -0.0 as 0.0 (SQLite drops the sign of a zero). Uploads
    /// store, and name by their hash, canonical values only, so what a read returns
    /// hashes to the name it was stored under on either backend.
    pub fn canonical(self) -> Value {
        match self {
            Value::Real(x) if x.is_nan() => Value::Null(ColType::Real),
            Value::Real(x) if x == 0.0 => Value::Real(0.0),
            v => v,
        }
    }

    /// Whether SQLite may have stored this value in place of another one before
    /// uploads were canonical (a null for a NaN, 0.0 for -0.0).
    pub(crate) fn maybe_lossy(&self) -> bool {
        matches!(self, Value::Null(ColType::Real)) || matches!(self, Value::Real(x) if *x == 0.0)
    }
}

/// The rows of one folder for one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub folder: Folder,
    pub rows: Vec<Vec<Value>>,
}

fn column_values(df: &DataFrame, name: &str, t: ColType) -> Result<Vec<Value>, DbError> {
    let bad = |e: PolarsError| DbError::Payload(format!("column `{name}`: {e}"));
    let c = df.column(name).map_err(|_| DbError::Payload(format!("the table has no column `{name}`")))?;
    Ok(match t {
        ColType::Int => c.cast(&DataType::Int64).map_err(bad)?.i64().map_err(bad)?.iter().map(|v| v.map_or(Value::Null(t), Value::Int)).collect(),
        ColType::Real => c.cast(&DataType::Float64).map_err(bad)?.f64().map_err(bad)?.iter().map(|v| v.map_or(Value::Null(t), |x| Value::Real(x).canonical())).collect(),
        ColType::Bool => c.bool().map_err(bad)?.iter().map(|v| v.map_or(Value::Null(t), Value::Bool)).collect(),
        ColType::Text => c.cast(&DataType::String).map_err(bad)?.str().map_err(bad)?.iter().map(|v| v.map_or(Value::Null(t), |s| Value::Text(s.to_string()))).collect(),
    })
}

impl Payload {
    /// The same rows with every value [`Value::canonical`].
    pub fn canonical(mut self) -> Payload {
        for row in &mut self.rows {
            for v in row.iter_mut() {
                if matches!(v, Value::Real(_)) {
                    *v = std::mem::replace(v, Value::Null(ColType::Real)).canonical();
                }
            }
        }
        self
    }

    /// The rows of `df` (which must have the folder's columns; others are ignored),
    /// canonical ([`Value::canonical`]).
    pub fn from_frame(folder: &Folder, df: &DataFrame) -> Result<Payload, DbError> {
        let cols: Vec<Vec<Value>> = folder.columns.iter().map(|(n, t)| column_values(df, n, *t)).collect::<Result<_, _>>()?;
        let rows = (0..df.height()).map(|i| cols.iter().map(|c| c[i].clone()).collect()).collect();
        Ok(Payload { folder: folder.clone(), rows })
    }

    /// The rows as a DataFrame with the folder's columns.
    pub fn to_frame(&self) -> DataFrame {
        let cols: Vec<Column> = self
            .folder
            .columns
            .iter()
            .enumerate()
            .map(|(j, (name, t))| {
                let it = self.rows.iter().map(|r| &r[j]);
                let name: PlSmallStr = name.as_str().into();
                match t {
                    ColType::Int => Column::new(name, it.map(|v| v.as_i64()).collect::<Vec<Option<i64>>>()),
                    ColType::Real => Column::new(name, it.map(|v| if let Value::Real(x) = v { Some(*x) } else { None }).collect::<Vec<Option<f64>>>()),
                    ColType::Bool => Column::new(name, it.map(|v| if let Value::Bool(x) = v { Some(*x) } else { None }).collect::<Vec<Option<bool>>>()),
                    ColType::Text => Column::new(name, it.map(|v| v.as_str().map(str::to_string)).collect::<Vec<Option<String>>>()),
                }
            })
            .collect();
        DataFrame::new_infer_height(cols).expect("columns of equal length")
    }

    /// SHA-256 of a canonical encoding of the folder, the columns and every value
    /// (floating-point values by their bits), as lowercase hex. A payload is stored
    /// under this name; reads recompute it from the rows they return.
    ///
    /// A column added to the folder after its creation ([`schema::ADDED_COLUMNS`])
    /// takes no part when every row has it null: payloads stored before it existed
    /// were named without it, and read back they have it null.
    pub fn hash(&self) -> String {
        let name = self.folder.name;
        let skip: Vec<bool> = self.folder.columns.iter().enumerate().map(|(j, (n, _))| schema::is_added_column(name, n) && self.rows.iter().all(|r| matches!(r[j], Value::Null(_)))).collect();
        let mut h = Sha256::new();
        h.update(b"gm2dqc-payload-1\0");
        h.update(name.as_bytes());
        h.update([0]);
        for ((n, t), _) in self.folder.columns.iter().zip(&skip).filter(|(_, s)| !**s) {
            h.update(n.as_bytes());
            h.update([0, *t as u8]);
        }
        h.update((self.rows.len() as u64).to_be_bytes());
        for row in &self.rows {
            for (v, _) in row.iter().zip(&skip).filter(|(_, s)| !**s) {
                match v {
                    Value::Null(_) => h.update([0]),
                    Value::Int(i) => {
                        h.update([1]);
                        h.update(i.to_be_bytes());
                    }
                    Value::Real(x) => {
                        h.update([2]);
                        h.update(x.to_bits().to_be_bytes());
                    }
                    Value::Bool(b) => h.update([3, *b as u8]),
                    Value::Text(s) => {
                        h.update([4]);
                        h.update((s.len() as u64).to_be_bytes());
                        h.update(s.as_bytes());
                    }
                }
            }
        }
        crate::checksum::hex(&h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_values_are_what_every_backend_returns() {
        assert_eq!(Value::Real(f64::NAN).canonical(), Value::Null(ColType::Real));
        assert_eq!(Value::Real(-0.0).canonical(), Value::Real(0.0));
        let Value::Real(z) = Value::Real(-0.0).canonical() else { panic!("a real stays a real") };
        assert!(z.is_sign_positive(), "the sign of zero is dropped");
        assert_eq!(Value::Real(f64::NEG_INFINITY).canonical(), Value::Real(f64::NEG_INFINITY));
        assert_eq!(Value::Int(-0).canonical(), Value::Int(0));
        let folder = crate::db::schema::folder("gain_constants").unwrap();
        let width = folder.columns.len();
        let real = folder.columns.iter().position(|(_, t)| *t == ColType::Real).unwrap();
        let mut row = vec![Value::Null(ColType::Int); width];
        row[real] = Value::Real(f64::NAN);
        let p = Payload { folder: folder.clone(), rows: vec![row.clone()] };
        let c = p.clone().canonical();
        assert_eq!(c.rows[0][real], Value::Null(ColType::Real));
        assert_ne!(p.hash(), c.hash(), "the hash is of the values given; uploads give canonical ones");
        row[real] = Value::Null(ColType::Real);
        assert_eq!(c.hash(), Payload { folder, rows: vec![row] }.hash());
    }
}
