//! The value model both engines share: parameters and columns ([`Value`], [`Row`]), statements for a
//! transaction ([`Stmt`]) and what they changed ([`Changed`]).
//!
//! Integers, text, booleans, floats and NULL are all there is. Times are stored as unix milliseconds, ids
//! and JSON as text, so both engines agree on every value. Each engine converts to and from these types in
//! its own module.

use super::error::DbError;

/// A parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds an array of [`Value`]s from heterogeneous arguments.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { [$($crate::Value::from($v)),*] };
}

/// One result row. The engines build it from their own rows.
#[derive(Debug, Clone)]
pub struct Row(pub(super) Vec<Value>);

impl Row {
    /// The columns, in the statement's order (for code that copies rows whatever their table).
    pub fn values(&self) -> &[Value] {
        &self.0
    }

    /// The columns, taken out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.0
    }

    /// The columns from `at` on, taken out as a row of their own (a join read as two rows).
    pub(crate) fn split_off(&mut self, at: usize) -> Row {
        Row(self.0.split_off(at.min(self.0.len())))
    }

    fn at(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    pub fn i64(&self, i: usize) -> Result<i64, DbError> {
        match self.at(i) {
            Value::Int(v) => Ok(*v),
            Value::Bool(b) => Ok(i64::from(*b)),
            _ => Err(DbError::Decode { index: i, expected: "integer" }),
        }
    }

    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.at(i) {
            Value::Null => Ok(None),
            _ => self.i64(i).map(Some),
        }
    }

    pub fn f64(&self, i: usize) -> Result<f64, DbError> {
        match self.at(i) {
            Value::Real(v) => Ok(*v),
            Value::Int(v) => Ok(*v as f64),
            _ => Err(DbError::Decode { index: i, expected: "real" }),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, DbError> {
        match self.at(i) {
            Value::Bool(b) => Ok(*b),
            Value::Int(v) => Ok(*v != 0),
            _ => Err(DbError::Decode { index: i, expected: "boolean" }),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, DbError> {
        match self.at(i) {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(DbError::Decode { index: i, expected: "text" }),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.at(i) {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// Which SQL dialect a statement must be written in, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement with its parameters, for [`Db::transaction`](crate::Db::transaction).
#[derive(Clone)]
pub struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Value>,
    /// Its rows are wanted ([`Db::transaction_returning`](crate::Db::transaction_returning)); otherwise only
    /// the count of rows it changed.
    pub returning: bool,
}

impl Stmt {
    pub fn new(sql: &'static str, params: impl Into<Vec<Value>>) -> Self {
        Self { sql, params: params.into(), returning: false }
    }

    /// A statement whose rows (`RETURNING …`) [`Db::transaction_returning`](crate::Db::transaction_returning)
    /// answers with.
    pub fn returning(sql: &'static str, params: impl Into<Vec<Value>>) -> Self {
        Self { sql, params: params.into(), returning: true }
    }
}

/// What one statement of [`Db::transaction_returning`](crate::Db::transaction_returning) did: the rows it
/// changed, and the rows it returned when it was made with [`Stmt::returning`] (then the count is theirs).
#[derive(Debug, Default)]
pub struct Changed {
    pub count: u64,
    pub rows: Vec<Row>,
}

/// Rows of one query of a [`Db::snapshot`](crate::Db::snapshot), in the order they were read.
#[derive(Debug)]
pub struct Batch {
    /// Which query (its index in the list given) the rows answer.
    pub query: usize,
    pub rows: Vec<Row>,
    /// The query's last batch (it may be empty): the next batch, if any, answers the next query.
    pub last: bool,
}

/// `name` as a quoted SQL identifier (the same on both engines), for statements built from the schema's own
/// table and column names.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The current time as unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
