//! Moving data: a whole database copied into another (SQLite → PostgreSQL, or back), and SQLite backups and
//! restores.
//!
//! Nothing here names the application's tables: the table list, the columns and the foreign keys are read
//! from the database itself (`sqlite_master` and its pragmas on SQLite, `information_schema` and
//! `pg_constraint` on PostgreSQL), so a table added by a future migration is copied without a change here.
//! Only `schema_migrations` is left out: each engine has its own migration tree, and the target records its
//! own when it is migrated.
//!
//! - [`copy`] migrates the target, refuses one that holds any row, reads the source from **one** snapshot
//!   (so the copy is consistent even if something writes meanwhile), writes each table in foreign-key order,
//!   [`BATCH_ROWS`] rows per transaction, converts values to the target's column types (SQLite's 0/1 to
//!   PostgreSQL's booleans and back), resets PostgreSQL sequences, and finally counts every table on both
//!   sides.
//! - [`backup`] writes a consistent copy of a live SQLite database into a new file (`VACUUM INTO` on a
//!   connection of its own, while the server keeps writing), checked with `PRAGMA integrity_check`.
//! - [`restore`] checks a backup file ([`inspect_backup`]) and replaces the database's contents with it
//!   through SQLite's online backup API, then applies this build's newer migrations and compares the counts.
//!
//! PostgreSQL has its own tools for backups (`pg_dump`, `pg_restore`), which the command line points to.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::db::{Db, DbError, Dialect, FileSummary, Row, Value, inspect_file, quote_ident};
use crate::migrations;

/// Rows read, converted and written per transaction.
pub const BATCH_ROWS: usize = 1000;

/// The table each engine records its migrations in; never copied.
const MIGRATIONS_TABLE: &str = "schema_migrations";

/// What a column holds, as far as moving values between the engines is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    Integer,
    Real,
    /// PostgreSQL `BOOLEAN` (SQLite stores booleans as `INTEGER` 0/1).
    Bool,
    Text,
    /// Any other type, by the name the database gives it; values pass through as text on PostgreSQL.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// A table as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// In the table's own order.
    pub columns: Vec<Column>,
    /// The tables its foreign keys reference.
    pub references: BTreeSet<String>,
}

/// Which database of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Where a copy stands, reported when a table starts and after each batch written.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress<'a> {
    pub table: &'a str,
    /// Rows of this table written so far.
    pub done: u64,
    /// Rows of this table in the source.
    pub total: u64,
    /// This table's position (from 1) among `tables`.
    pub index: usize,
    pub tables: usize,
}

/// One table's rows on both sides once the work is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    /// In the source's snapshot (a copy) or in the backup file (a restore).
    pub source: u64,
    /// In the target, counted afterwards.
    pub target: u64,
}

/// What [`copy`] or [`restore`] did, table by table, in the order the tables were written.
#[derive(Debug, Clone, Default)]
pub struct TransferReport {
    pub tables: Vec<TableCount>,
    /// The target's migrations applied on the way (before a copy, after a restore).
    pub migrations_applied: Vec<i64>,
}

impl TransferReport {
    /// Rows in the target, all tables together.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.target).sum()
    }

    /// The tables whose counts differ between the two sides.
    pub fn mismatches(&self) -> Vec<&TableCount> {
        self.tables.iter().filter(|t| t.source != t.target).collect()
    }

    fn describe_mismatches(&self) -> String {
        self.mismatches()
            .iter()
            .map(|t| format!("`{}` has {} rows in the source and {} in the target", t.table, t.source, t.target))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What [`backup`] wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Every table of the backup with its rows, by name.
    pub tables: Vec<(String, u64)>,
}

impl BackupReport {
    /// Rows in the backup, all tables together (the migrations' record included).
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// A backup file that [`inspect_backup`] accepted.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    /// The migrations recorded in it.
    pub versions: Vec<i64>,
    /// Every table with its rows, by name.
    pub tables: Vec<(String, u64)>,
}

/// Why moving data failed. Nothing is left half-done silently: a copy refused before it started wrote no
/// row, and one that failed midway names the table.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("reading the source database")]
    Source(#[source] DbError),
    #[error("writing the target database")]
    Target(#[source] DbError),
    #[error("the {0} database holds no tlink schema (it has no `schema_migrations` table)")]
    NotTlink(Side),
    #[error(
        "the {side} database was migrated by a newer tlink (migrations {versions:?} are unknown to this build); \
         use that build"
    )]
    NewerSchema { side: Side, versions: Vec<i64> },
    #[error(
        "the {side} database lacks migrations {versions:?} of this build: run `tlink migrate` on it with this build \
         first"
    )]
    OlderSchema { side: Side, versions: Vec<i64> },
    #[error("the two databases' tables differ: {}", .0.join("; "))]
    SchemaMismatch(Vec<String>),
    #[error("the tables {} reference each other in a cycle, so there is no order to copy them in", .0.join(", "))]
    ForeignKeyCycle(Vec<String>),
    #[error("the target database is not empty: table `{0}` has rows")]
    NotEmpty(String),
    #[error("table `{table}`, column `{column}`, row {row}: the value {why}")]
    Value { table: String, column: String, row: String, why: &'static str },
    #[error("writing rows {from}–{to} of table `{table}`")]
    Write {
        table: String,
        from: u64,
        to: u64,
        #[source]
        source: Box<DbError>,
    },
    #[error("the source's rows ended before table `{0}` was read")]
    SourceEnded(String),
    #[error("the row counts differ after the copy: {}", .0.describe_mismatches())]
    Verify(Box<TransferReport>),
    #[error("{what} works on SQLite databases only; this database is PostgreSQL")]
    NotSqlite { what: &'static str },
    #[error("{} exists already: a backup never replaces a file, choose a new name", .0.display())]
    Exists(PathBuf),
    #[error("{}: {why}", .path.display())]
    BadFile { path: PathBuf, why: String },
    #[error("{}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the background task stopped unexpectedly")]
    Task(#[source] tokio::task::JoinError),
}

/// The migrations of `db`'s engine.
fn migrations_for(dialect: Dialect) -> &'static [(i64, &'static str)] {
    match dialect {
        Dialect::Sqlite => migrations::SQLITE,
        Dialect::Postgres => migrations::POSTGRES,
    }
}

/// Every table of the database (`schema_migrations` included), by name, as the database describes it.
async fn read_schema(db: &Db) -> Result<BTreeMap<String, Table>, DbError> {
    // (table, column, kind) in each table's column order, then (table, referenced table).
    let (columns, references) = match db.dialect() {
        Dialect::Sqlite => {
            const COLUMNS: &str = "SELECT m.name, p.name, p.type FROM sqlite_master m \
                JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND substr(m.name, 1, 7) <> 'sqlite_' \
                ORDER BY m.name, p.cid";
            const REFERENCES: &str = "SELECT m.name, f.\"table\" FROM sqlite_master m \
                JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND substr(m.name, 1, 7) <> 'sqlite_'";
            let columns = db.query_dynamic(COLUMNS, &[]).await?;
            let columns = columns
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?, sqlite_kind(&r.opt_text(2)?.unwrap_or_default()))))
                .collect::<Result<Vec<_>, DbError>>()?;
            (columns, db.query_dynamic(REFERENCES, &[]).await?)
        }
        Dialect::Postgres => {
            const COLUMNS: &str = "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                c.udt_name::text FROM information_schema.columns c JOIN information_schema.tables t \
                ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                ORDER BY c.table_name, c.ordinal_position";
            const REFERENCES: &str = "SELECT src.relname::text, dst.relname::text FROM pg_constraint k \
                JOIN pg_class src ON src.oid = k.conrelid JOIN pg_class dst ON dst.oid = k.confrelid \
                JOIN pg_namespace n ON n.oid = src.relnamespace \
                WHERE k.contype = 'f' AND n.nspname = current_schema()";
            let columns = db.query_dynamic(COLUMNS, &[]).await?;
            let columns = columns
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?, postgres_kind(&r.text(2)?, &r.text(3)?))))
                .collect::<Result<Vec<_>, DbError>>()?;
            (columns, db.query_dynamic(REFERENCES, &[]).await?)
        }
    };
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for (table, name, kind) in columns {
        tables
            .entry(table.clone())
            .or_insert_with(|| Table { name: table, columns: Vec::new(), references: BTreeSet::new() })
            .columns
            .push(Column { name, kind });
    }
    for r in &references {
        let (table, referenced) = (r.text(0)?, r.text(1)?);
        if let Some(t) = tables.get_mut(&table) {
            t.references.insert(referenced);
        }
    }
    Ok(tables)
}

/// A SQLite column's kind from its declared type, by SQLite's own affinity rules (`INT` first).
fn sqlite_kind(declared: &str) -> ColumnKind {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        ColumnKind::Integer
    } else if t.contains("BOOL") {
        ColumnKind::Bool
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        ColumnKind::Text
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        ColumnKind::Real
    } else {
        ColumnKind::Other(t)
    }
}

/// A PostgreSQL column's kind from `information_schema.columns` (`data_type`, and `udt_name` for the rest).
fn postgres_kind(data_type: &str, udt_name: &str) -> ColumnKind {
    match data_type {
        "bigint" | "integer" | "smallint" => ColumnKind::Integer,
        "double precision" | "real" => ColumnKind::Real,
        "boolean" => ColumnKind::Bool,
        "text" | "character varying" | "character" => ColumnKind::Text,
        _ => ColumnKind::Other(udt_name.to_string()),
    }
}

/// The tables to move (all but `schema_migrations`), each after the tables it references.
fn in_key_order(schema: &BTreeMap<String, Table>) -> Result<Vec<Table>, TransferError> {
    let mut pending: BTreeMap<&str, &Table> =
        schema.iter().filter(|(name, _)| *name != MIGRATIONS_TABLE).map(|(name, t)| (name.as_str(), t)).collect();
    let mut order: Vec<Table> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        // A reference to itself, or to a table that is not moved, does not hold a table back.
        let ready: Vec<&str> = pending
            .iter()
            .filter(|(name, t)| t.references.iter().all(|r| r == *name || !pending.contains_key(r.as_str())))
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            return Err(TransferError::ForeignKeyCycle(pending.keys().map(|n| (*n).to_string()).collect()));
        }
        for name in ready {
            if let Some(t) = pending.remove(name) {
                order.push(t.clone());
            }
        }
    }
    Ok(order)
}

/// The tables to move (every table but `schema_migrations`) in foreign-key order: each after the tables it
/// references, so rows can be inserted with the keys checked.
///
/// # Errors
/// The database cannot be read, or its tables reference each other in a cycle.
pub async fn tables(db: &Db) -> Result<Vec<Table>, TransferError> {
    let schema = read_schema(db).await.map_err(TransferError::Source)?;
    in_key_order(&schema)
}

/// How the two schemas differ, in words; empty when they have the same tables with the same columns.
fn differences(source: &BTreeMap<String, Table>, target: &BTreeMap<String, Table>) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = source.keys().chain(target.keys()).collect();
    for name in names {
        if name == MIGRATIONS_TABLE {
            continue;
        }
        match (source.get(name), target.get(name)) {
            (Some(_), None) => out.push(format!("table `{name}` is only in the source")),
            (None, Some(_)) => out.push(format!("table `{name}` is only in the target")),
            (Some(s), Some(t)) => {
                let s_cols: BTreeSet<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
                let t_cols: BTreeSet<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
                for c in s_cols.difference(&t_cols) {
                    out.push(format!("column `{name}.{c}` is only in the source"));
                }
                for c in t_cols.difference(&s_cols) {
                    out.push(format!("column `{name}.{c}` is only in the target"));
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Checks that the recorded migrations are exactly this build's for the engine.
async fn check_versions(db: &Db, schema: &BTreeMap<String, Table>, side: Side) -> Result<(), TransferError> {
    let wrap = |e| match side {
        Side::Source => TransferError::Source(e),
        Side::Target => TransferError::Target(e),
    };
    if !schema.contains_key(MIGRATIONS_TABLE) {
        return Err(TransferError::NotTlink(side));
    }
    let rows = db.query("SELECT version FROM schema_migrations ORDER BY version", &[]).await.map_err(wrap)?;
    let applied = rows.iter().map(|r| r.i64(0)).collect::<Result<Vec<_>, _>>().map_err(wrap)?;
    let known: Vec<i64> = migrations_for(db.dialect()).iter().map(|(v, _)| *v).collect();
    let newer: Vec<i64> = applied.iter().filter(|v| !known.contains(v)).copied().collect();
    if !newer.is_empty() {
        return Err(TransferError::NewerSchema { side, versions: newer });
    }
    let missing: Vec<i64> = known.iter().filter(|v| !applied.contains(v)).copied().collect();
    if !missing.is_empty() {
        return Err(TransferError::OlderSchema { side, versions: missing });
    }
    Ok(())
}

/// The rows of a table.
///
/// # Errors
/// The table cannot be counted (it does not exist, or the database does not answer).
pub async fn count_rows(db: &Db, table: &str) -> Result<u64, DbError> {
    let rows = db.query_dynamic(&format!("SELECT COUNT(*) FROM {}", quote_ident(table)), &[]).await?;
    let n = rows.first().map_or(Ok(0), |r| r.i64(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn has_rows(db: &Db, table: &str) -> Result<bool, DbError> {
    let rows = db.query_dynamic(&format!("SELECT 1 FROM {} LIMIT 1", quote_ident(table)), &[]).await?;
    Ok(!rows.is_empty())
}

/// The first table (in foreign-key order, `schema_migrations` aside) that holds a row; `None` when the
/// database is empty, or holds no tables at all. Errors are the target's: this is asked of a database about
/// to be written.
///
/// # Errors
/// The database cannot be read.
pub async fn first_nonempty_table(db: &Db) -> Result<Option<String>, TransferError> {
    let schema = read_schema(db).await.map_err(TransferError::Target)?;
    for t in in_key_order(&schema)? {
        if has_rows(db, &t.name).await.map_err(TransferError::Target)? {
            return Ok(Some(t.name));
        }
    }
    Ok(None)
}

/// PostgreSQL: the columns filled by a sequence (`serial`, or an identity), by table, with whether they are
/// identities (whose inserts must say `OVERRIDING SYSTEM VALUE`).
async fn sequence_columns(db: &Db) -> Result<BTreeMap<String, Vec<(String, bool)>>, DbError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(BTreeMap::new());
    }
    const SQL: &str = "SELECT table_name::text, column_name::text, is_identity::text FROM information_schema.columns \
        WHERE table_schema = current_schema() AND data_type IN ('smallint', 'integer', 'bigint') \
        AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')";
    let mut out: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for r in db.query_dynamic(SQL, &[]).await? {
        out.entry(r.text(0)?).or_default().push((r.text(1)?, r.text(2)? == "YES"));
    }
    Ok(out)
}

/// The INSERT of one row of `t` on `dialect`, in `t`'s column order.
fn insert_sql(t: &Table, dialect: Dialect, overriding: bool) -> String {
    let columns: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let values: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match (&c.kind, dialect) {
            // A type the value model does not know is sent as text and converted by the server.
            (ColumnKind::Other(ty), Dialect::Postgres) => {
                format!("CAST(CAST(${} AS TEXT) AS {})", i + 1, quote_ident(ty))
            }
            _ => format!("${}", i + 1),
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) {}VALUES ({})",
        quote_ident(&t.name),
        columns.join(", "),
        if overriding { "OVERRIDING SYSTEM VALUE " } else { "" },
        values.join(", ")
    )
}

/// A short rendering of a row's first column (usually its id), to name the row in an error.
fn row_name(v: Option<&Value>) -> String {
    let text = match v {
        Some(Value::Text(s)) => format!("`{s}`"),
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Real(f)) => f.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) | None => "(no key)".into(),
    };
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text }
}

/// `v` as a column of `kind` on `dialect` wants it; `Err` says why it cannot be.
fn coerce(v: Value, kind: &ColumnKind, dialect: Dialect) -> Result<Value, &'static str> {
    Ok(match (kind, v) {
        (_, Value::Null) => Value::Null,
        (ColumnKind::Integer, Value::Int(i)) => Value::Int(i),
        (ColumnKind::Integer, Value::Bool(b)) => Value::Int(i64::from(b)),
        // -2^63 ≤ f < 2^63: exactly the integers an i64 holds.
        (ColumnKind::Integer, Value::Real(f))
            if f.fract() == 0.0 && (i64::MIN as f64..-(i64::MIN as f64)).contains(&f) =>
        {
            Value::Int(f as i64)
        }
        (ColumnKind::Integer, _) => return Err("is not an integer"),
        (ColumnKind::Bool, Value::Bool(b)) => Value::Bool(b),
        (ColumnKind::Bool, Value::Int(0)) => Value::Bool(false),
        (ColumnKind::Bool, Value::Int(1)) => Value::Bool(true),
        (ColumnKind::Bool, _) => return Err("is not a boolean (0 or 1)"),
        (ColumnKind::Real, Value::Real(f)) => Value::Real(f),
        (ColumnKind::Real, Value::Int(i)) => Value::Real(i as f64),
        (ColumnKind::Real, _) => return Err("is not a number"),
        (ColumnKind::Text, Value::Text(s)) => Value::Text(s),
        (ColumnKind::Text, _) => return Err("is not text"),
        (ColumnKind::Other(_), v) if dialect == Dialect::Postgres => Value::Text(match v {
            Value::Text(s) => s,
            Value::Int(i) => i.to_string(),
            Value::Real(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => return Ok(Value::Null),
        }),
        (ColumnKind::Other(_), v) => v,
    })
}

/// A source row as the target's INSERT takes it.
fn convert(row: Row, t: &Table, dialect: Dialect) -> Result<Vec<Value>, TransferError> {
    let values = row.into_values();
    let name = row_name(values.first());
    values
        .into_iter()
        .zip(&t.columns)
        .map(|(v, c)| {
            coerce(v, &c.kind, dialect).map_err(|why| TransferError::Value {
                table: t.name.clone(),
                column: c.name.clone(),
                row: name.clone(),
                why,
            })
        })
        .collect()
}

/// The next batch of the snapshot, which must answer query `query` (reading `table`).
async fn next_batch(
    snapshot: &mut crate::db::Snapshot,
    query: usize,
    table: &str,
) -> Result<crate::db::Batch, TransferError> {
    match snapshot.next().await {
        Some(Ok(batch)) if batch.query == query => Ok(batch),
        Some(Err(e)) => Err(TransferError::Source(e)),
        Some(Ok(_)) | None => Err(TransferError::SourceEnded(table.to_string())),
    }
}

/// Copies every row of every table (but `schema_migrations`) of `from` into `to`, which may be on the other
/// engine: migrates `to` with this build's migrations, checks that both databases are at this build's
/// schema and have the same tables and columns, refuses a target that holds any row (naming the table),
/// then copies table by table in foreign-key order, [`BATCH_ROWS`] rows per transaction, reading the source
/// from one snapshot. Afterwards PostgreSQL sequences are moved past the copied values, and every table is
/// counted on the target and compared with the source. `progress` is called when a table starts and after
/// each batch.
///
/// A copy that fails midway leaves the rows already written: the target is then not empty, and a second
/// attempt is refused until it is emptied (or recreated).
///
/// # Errors
/// See [`TransferError`]; nothing is written before the schemas have been checked and the target found
/// empty.
pub async fn copy(
    from: &Db,
    to: &Db,
    mut progress: impl FnMut(&CopyProgress<'_>),
) -> Result<TransferReport, TransferError> {
    let source = read_schema(from).await.map_err(TransferError::Source)?;
    check_versions(from, &source, Side::Source).await?;
    let applied = to.migrate(migrations_for(to.dialect())).await.map_err(TransferError::Target)?;
    let target = read_schema(to).await.map_err(TransferError::Target)?;
    check_versions(to, &target, Side::Target).await?;
    let differ = differences(&source, &target);
    if !differ.is_empty() {
        return Err(TransferError::SchemaMismatch(differ));
    }
    // The target's columns and key order: values are converted to what its columns take.
    let order = in_key_order(&target)?;
    for t in &order {
        if has_rows(to, &t.name).await.map_err(TransferError::Target)? {
            return Err(TransferError::NotEmpty(t.name.clone()));
        }
    }
    let sequences = sequence_columns(to).await.map_err(TransferError::Target)?;

    let mut queries = Vec::with_capacity(order.len() * 2);
    for t in &order {
        let columns: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
        queries.push(format!("SELECT COUNT(*) FROM {}", quote_ident(&t.name)));
        queries.push(format!("SELECT {} FROM {}", columns.join(", "), quote_ident(&t.name)));
    }
    let mut snapshot = from.snapshot(queries, BATCH_ROWS).map_err(TransferError::Source)?;
    let mut report = TransferReport { tables: Vec::with_capacity(order.len()), migrations_applied: applied };
    let dialect = to.dialect();
    for (i, t) in order.iter().enumerate() {
        let counted = next_batch(&mut snapshot, 2 * i, &t.name).await?;
        let total = match counted.rows.first() {
            Some(r) => u64::try_from(r.i64(0).map_err(TransferError::Source)?).unwrap_or(0),
            None => 0,
        };
        let mut at = CopyProgress { table: &t.name, done: 0, total, index: i + 1, tables: order.len() };
        progress(&at);
        let identity = sequences.get(&t.name).is_some_and(|cols| cols.iter().any(|(_, identity)| *identity));
        let insert = insert_sql(t, dialect, identity);
        loop {
            let batch = next_batch(&mut snapshot, 2 * i + 1, &t.name).await?;
            let last = batch.last;
            if !batch.rows.is_empty() {
                let rows = batch.rows.into_iter().map(|r| convert(r, t, dialect)).collect::<Result<Vec<_>, _>>()?;
                let n = rows.len() as u64;
                to.execute_many(&insert, rows).await.map_err(|source| TransferError::Write {
                    table: t.name.clone(),
                    from: at.done + 1,
                    to: at.done + n,
                    source: Box::new(source),
                })?;
                at.done += n;
                progress(&at);
            }
            if last {
                break;
            }
        }
        report.tables.push(TableCount { table: t.name.clone(), source: total, target: 0 });
    }
    drop(snapshot);

    for (table, columns) in &sequences {
        for (column, _) in columns {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({}), 0) + 1, false) FROM {}",
                quote_ident(column),
                quote_ident(table)
            );
            let params = [Value::Text(quote_ident(table)), Value::Text(column.clone())];
            to.query_dynamic(&sql, &params).await.map_err(TransferError::Target)?;
        }
    }
    for t in &mut report.tables {
        t.target = count_rows(to, &t.table).await.map_err(TransferError::Target)?;
    }
    if !report.mismatches().is_empty() {
        return Err(TransferError::Verify(Box::new(report)));
    }
    Ok(report)
}

/// Creates `path` empty, readable by its owner only (a backup holds password hashes and sealed keys).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(|_| ())
}

/// Writes a consistent copy of the SQLite database `db` to the new file `path`, while the database stays in
/// use: `VACUUM INTO` a temporary file beside `path` (readable by its owner only) on a connection of its own,
/// checked with `PRAGMA integrity_check`, flushed to disk, then renamed to `path`. The copy holds every
/// transaction committed before it began and nothing after. Never replaces an existing file.
///
/// # Errors
/// The database is PostgreSQL ([`TransferError::NotSqlite`]: use `pg_dump`), `path` exists, or the copy
/// could not be written or failed its check (the temporary file is removed).
pub async fn backup(db: &Db, path: &Path) -> Result<BackupReport, TransferError> {
    let Db::Sqlite(sqlite) = db else {
        return Err(TransferError::NotSqlite { what: "tlink backup" });
    };
    if path.symlink_metadata().is_ok() {
        return Err(TransferError::Exists(path.to_path_buf()));
    }
    let Some(name) = path.file_name() else {
        return Err(TransferError::BadFile { path: path.to_path_buf(), why: "names no file".into() });
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
    let (sqlite, path) = (sqlite.clone(), path.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let written = write_backup(&sqlite, &temp, &dir, &path);
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    })
    .await
    .map_err(TransferError::Task)?
}

/// The blocking part of [`backup`].
fn write_backup(db: &crate::db::SqliteDb, temp: &Path, dir: &Path, path: &Path) -> Result<BackupReport, TransferError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| TransferError::Io { path: p, source }
    };
    let Some(temp_name) = temp.to_str() else {
        return Err(TransferError::BadFile { path: path.to_path_buf(), why: "the path is not valid UTF-8".into() });
    };
    create_private(temp).map_err(io(temp))?;
    db.vacuum_into(temp_name).map_err(TransferError::Source)?;
    let summary = inspect_file(temp).map_err(TransferError::Source)?;
    if summary.integrity != ["ok"] {
        return Err(TransferError::BadFile {
            path: path.to_path_buf(),
            why: format!("the copy failed the integrity check: {}", summary.integrity.join("; ")),
        });
    }
    std::fs::File::open(temp).and_then(|f| f.sync_all()).map_err(io(temp))?;
    if path.symlink_metadata().is_ok() {
        return Err(TransferError::Exists(path.to_path_buf()));
    }
    std::fs::rename(temp, path).map_err(io(path))?;
    // The rename itself reaches the disk with the directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(BackupReport { path: path.to_path_buf(), bytes, tables: summary.tables })
}

/// Checks that `path` is a tlink SQLite database this build can restore: a readable SQLite file that passes
/// `PRAGMA integrity_check`, with a `schema_migrations` table that records no migration newer than this
/// build's.
///
/// # Errors
/// [`TransferError::BadFile`], saying what is wrong with the file.
pub async fn inspect_backup(path: &Path) -> Result<BackupInfo, TransferError> {
    let bad = |why: String| TransferError::BadFile { path: path.to_path_buf(), why };
    if !path.is_file() {
        return Err(bad("no such file".into()));
    }
    let file = path.to_path_buf();
    let summary: Result<FileSummary, DbError> =
        tokio::task::spawn_blocking(move || inspect_file(&file)).await.map_err(TransferError::Task)?;
    let summary = summary.map_err(|e| bad(format!("not a readable SQLite database ({e})")))?;
    if summary.integrity != ["ok"] {
        let first: Vec<String> = summary.integrity.into_iter().take(3).collect();
        return Err(bad(format!("the file fails SQLite's integrity check: {}", first.join("; "))));
    }
    let Some(versions) = summary.versions else {
        return Err(bad("not a tlink database (it has no `schema_migrations` table)".into()));
    };
    let known: Vec<i64> = migrations::SQLITE.iter().map(|(v, _)| *v).collect();
    let newer: Vec<i64> = versions.iter().filter(|v| !known.contains(v)).copied().collect();
    if !newer.is_empty() {
        return Err(bad(format!(
            "made by a newer tlink (migrations {newer:?} are unknown to this build); restore it with that build"
        )));
    }
    Ok(BackupInfo { versions, tables: summary.tables })
}

/// Replaces the contents of the SQLite database `db` with the backup at `path`: checks the file
/// ([`inspect_backup`]), refuses unless `db` holds no row or `force` is given, copies the backup over the
/// database through SQLite's online backup API (one write transaction: safe with WAL, unlike copying files),
/// compares every table's rows with the backup's, then applies this build's newer migrations. The server must
/// not be running: its caches would not know the database changed.
///
/// # Errors
/// The database is PostgreSQL ([`TransferError::NotSqlite`]: use `pg_restore`), the file is not a backup
/// this build can restore, the database is not empty (without `force`), or the counts differ afterwards.
pub async fn restore(db: &Db, path: &Path, force: bool) -> Result<TransferReport, TransferError> {
    let Db::Sqlite(sqlite) = db else {
        return Err(TransferError::NotSqlite { what: "tlink restore" });
    };
    let info = inspect_backup(path).await?;
    if !force && let Some(table) = first_nonempty_table(db).await? {
        return Err(TransferError::NotEmpty(table));
    }
    sqlite.restore_from(path).await.map_err(TransferError::Target)?;
    // Counted before migrating: what is compared is the restore itself.
    let mut report = TransferReport { tables: Vec::new(), migrations_applied: Vec::new() };
    for (table, rows) in info.tables {
        if table == MIGRATIONS_TABLE {
            continue;
        }
        let target = count_rows(db, &table).await.map_err(TransferError::Target)?;
        report.tables.push(TableCount { table, source: rows, target });
    }
    if !report.mismatches().is_empty() {
        return Err(TransferError::Verify(Box::new(report)));
    }
    report.migrations_applied = db.migrate(migrations::SQLITE).await.map_err(TransferError::Target)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, refs: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: vec![Column { name: "id".into(), kind: ColumnKind::Text }],
            references: refs.iter().map(|r| (*r).to_string()).collect(),
        }
    }

    fn schema(tables: &[Table]) -> BTreeMap<String, Table> {
        tables.iter().map(|t| (t.name.clone(), t.clone())).collect()
    }

    #[test]
    fn tables_come_after_the_tables_they_reference() {
        let s = schema(&[
            table("alerts", &["orgs", "assets", "alerts"]),
            table("assets", &["orgs"]),
            table("orgs", &[]),
            table("schema_migrations", &[]),
            table("notes", &["gone"]),
        ]);
        let order: Vec<String> = in_key_order(&s).expect("an order").into_iter().map(|t| t.name).collect();
        assert_eq!(order, ["notes", "orgs", "assets", "alerts"]);
        let cyclic = schema(&[table("a", &["b"]), table("b", &["a"]), table("c", &[])]);
        match in_key_order(&cyclic) {
            Err(TransferError::ForeignKeyCycle(names)) => assert_eq!(names, ["a", "b"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_take_the_target_column_types() {
        let pg = Dialect::Postgres;
        assert_eq!(coerce(Value::Int(1), &ColumnKind::Bool, pg), Ok(Value::Bool(true)));
        assert_eq!(coerce(Value::Int(0), &ColumnKind::Bool, pg), Ok(Value::Bool(false)));
        assert!(coerce(Value::Int(2), &ColumnKind::Bool, pg).is_err());
        assert_eq!(coerce(Value::Bool(true), &ColumnKind::Integer, Dialect::Sqlite), Ok(Value::Int(1)));
        assert_eq!(coerce(Value::Int(3), &ColumnKind::Real, pg), Ok(Value::Real(3.0)));
        assert_eq!(coerce(Value::Real(4.0), &ColumnKind::Integer, pg), Ok(Value::Int(4)));
        assert!(coerce(Value::Real(4.5), &ColumnKind::Integer, pg).is_err());
        assert!(coerce(Value::Text("7".into()), &ColumnKind::Integer, pg).is_err());
        assert_eq!(coerce(Value::Null, &ColumnKind::Bool, pg), Ok(Value::Null));
        let json = ColumnKind::Other("jsonb".into());
        assert_eq!(coerce(Value::Int(5), &json, pg), Ok(Value::Text("5".into())));
        assert_eq!(coerce(Value::Int(5), &json, Dialect::Sqlite), Ok(Value::Int(5)));
    }

    #[test]
    fn inserts_quote_names_and_cast_unknown_types() {
        let t = Table {
            name: "we\"ird".into(),
            columns: vec![
                Column { name: "id".into(), kind: ColumnKind::Integer },
                Column { name: "doc".into(), kind: ColumnKind::Other("jsonb".into()) },
            ],
            references: BTreeSet::new(),
        };
        assert_eq!(
            insert_sql(&t, Dialect::Postgres, true),
            concat!(
                r#"INSERT INTO "we""ird" ("id", "doc") OVERRIDING SYSTEM VALUE "#,
                r#"VALUES ($1, CAST(CAST($2 AS TEXT) AS "jsonb"))"#
            )
        );
        assert_eq!(insert_sql(&t, Dialect::Sqlite, false), r#"INSERT INTO "we""ird" ("id", "doc") VALUES ($1, $2)"#);
        assert_eq!(sqlite_kind("BIGINT"), ColumnKind::Integer);
        assert_eq!(sqlite_kind("REAL"), ColumnKind::Real);
        assert_eq!(postgres_kind("boolean", "bool"), ColumnKind::Bool);
        assert_eq!(postgres_kind("jsonb", "jsonb"), ColumnKind::Other("jsonb".into()));
    }

    #[test]
    fn schemas_that_differ_are_described() {
        let mut a = table("assets", &[]);
        a.columns.push(Column { name: "label".into(), kind: ColumnKind::Text });
        let s = schema(&[a, table("orgs", &[]), table("schema_migrations", &[])]);
        let t = schema(&[table("assets", &[]), table("extra", &[])]);
        assert_eq!(
            differences(&s, &t),
            [
                "column `assets.label` is only in the source",
                "table `extra` is only in the target",
                "table `orgs` is only in the source"
            ]
        );
        assert!(differences(&s, &s).is_empty());
    }
}
