//! Payloads: the rows of one folder for one interval, converted from and to polars
//! DataFrames, identified by a content hash.

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::schema::{ColType, Folder};
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
        ColType::Real => c.cast(&DataType::Float64).map_err(bad)?.f64().map_err(bad)?.iter().map(|v| v.map_or(Value::Null(t), Value::Real)).collect(),
        ColType::Bool => c.bool().map_err(bad)?.iter().map(|v| v.map_or(Value::Null(t), Value::Bool)).collect(),
        ColType::Text => c.cast(&DataType::String).map_err(bad)?.str().map_err(bad)?.iter().map(|v| v.map_or(Value::Null(t), |s| Value::Text(s.to_string()))).collect(),
    })
}

impl Payload {
    /// The rows of `df` (which must have the folder's columns; others are ignored).
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
    /// (floating-point values by their bits), as lowercase hex.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"gm2dqc-payload-1\0");
        h.update(self.folder.name.as_bytes());
        h.update([0]);
        for (n, t) in &self.folder.columns {
            h.update(n.as_bytes());
            h.update([0, *t as u8]);
        }
        h.update((self.rows.len() as u64).to_be_bytes());
        for row in &self.rows {
            for v in row {
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
