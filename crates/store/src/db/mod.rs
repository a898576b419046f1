//! The database handle: one small executor over two engines.
//!
//! Every query in this crate is written once, with PostgreSQL-style `$1…$n` placeholders, and runs on
//! either engine. [`Db`] dispatches each call to the engine its URL named:
//!
//! - `sqlite.rs`: SQLite through `rusqlite`, inline on the calling thread for reads; writes go to one writer
//!   connection on its own thread (`writer.rs`), which groups concurrent writes into one commit.
//! - `postgres.rs`: PostgreSQL through `tokio-postgres` with a `deadpool` pool and per-connection
//!   prepared-statement caches; batches are pipelined.
//! - `value.rs`: the tiny value model both share ([`Value`], [`Row`], [`Stmt`]); `error.rs`: [`DbError`].
//!
//! This file only dispatches; the engines depend on the value model and the error, never on the handle.
//!
//! # Statements built at run time
//!
//! [`Db::query`], [`Db::execute`] and [`Db::transaction`] take `&'static str`: every statement of the
//! application is a constant, so each engine can keep it prepared in a per-connection cache keyed by its text.
//! Moving data whatever its table (`transfer.rs`: copying a database, checking a schema) needs statements
//! built from the schema's own table and column names, which that cache must not hold: SQLite's cache is
//! small (128) and would evict the application's hot statements, and PostgreSQL's grows without bound.
//! [`Db::query_dynamic`], [`Db::execute_many`] and [`Db::snapshot`] take such statements and prepare them
//! for the call only. Build them only from names the database itself reported, quoted with [`quote_ident`],
//! and pass values as parameters, never as text.

mod error;
mod postgres;
mod sqlite;
mod value;
mod writer;

use std::fmt;
use std::sync::Arc;

pub use error::DbError;
pub use postgres::Listener;
pub use sqlite::SqliteDb;
pub(crate) use sqlite::{FileSummary, inspect_file};
pub use value::{Batch, Changed, Dialect, Row, Stmt, Value, now_millis, quote_ident};

/// A cloneable handle to the database.
#[derive(Clone)]
pub enum Db {
    Sqlite(Arc<SqliteDb>),
    /// The pool, and its configuration for the one connection that listens for notifications.
    Postgres(deadpool_postgres::Pool, Arc<tokio_postgres::Config>),
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Db::Sqlite(s) => write!(f, "Db::Sqlite({})", s.path()),
            Db::Postgres(..) => write!(f, "Db::Postgres"),
        }
    }
}

/// Rows read by [`Db::snapshot`], batch by batch.
pub struct Snapshot {
    rx: tokio::sync::mpsc::Receiver<Result<Batch, DbError>>,
}

impl Snapshot {
    /// The next batch; `None` once every query has been answered. After an error nothing follows.
    pub async fn next(&mut self) -> Option<Result<Batch, DbError>> {
        self.rx.recv().await
    }
}

/// The file a `sqlite://path` (or `sqlite:path`) URL names, without its query string; `None` for any other
/// URL.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or(path))
}

impl Db {
    /// Opens the database named by `url`: `sqlite://path` (or `sqlite:path`) or `postgres://…`.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Db, DbError> {
        if let Some(path) = sqlite_path(url) {
            let db = SqliteDb::open(path, pool_size.clamp(1, 16))?;
            return Ok(Db::Sqlite(Arc::new(db)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let cfg: tokio_postgres::Config =
                url.parse().map_err(|e: tokio_postgres::Error| DbError::PoolConfig(e.to_string()))?;
            return Self::connect_pg(cfg, pool_size);
        }
        Err(DbError::UnsupportedUrl(url.to_string()))
    }

    /// Opens a PostgreSQL pool from an explicit configuration (tests use it to pin a schema).
    pub fn connect_pg(cfg: tokio_postgres::Config, pool_size: usize) -> Result<Db, DbError> {
        let pool = postgres::pool(&cfg, pool_size)?;
        Ok(Db::Postgres(pool, Arc::new(cfg)))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(..) => Dialect::Postgres,
        }
    }

    /// Runs a statement and returns all rows.
    pub async fn query(&self, sql: &'static str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Db::Sqlite(db) => db.query(sql, params).await,
            Db::Postgres(pool, _) => postgres::query(pool, sql, params).await,
        }
    }

    /// Runs a statement and returns its first row, if any.
    pub async fn query_opt(&self, sql: &'static str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&self, sql: &'static str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(db) => db.execute(sql, params).await,
            Db::Postgres(pool, _) => postgres::execute(pool, sql, params).await,
        }
    }

    /// Runs statements atomically, in order; all of them take effect or none. Returns each one's
    /// changed-row count.
    pub async fn transaction(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>, DbError> {
        Ok(self.transaction_returning(stmts).await?.into_iter().map(|c| c.count).collect())
    }

    /// Runs statements atomically, in order, and answers with what each did: its changed-row count, and its
    /// rows for those made with [`Stmt::returning`] (`RETURNING`, or reads that must see the transaction's
    /// own writes). Reading rows back costs more than counting them, so only the statements that need them
    /// ask. On SQLite the writer runs them under a savepoint of its group transaction; on PostgreSQL they are
    /// sent pipelined, so a batch costs about one round trip, and the server still runs them in order (the
    /// first error aborts the transaction).
    pub async fn transaction_returning(&self, stmts: Vec<Stmt>) -> Result<Vec<Changed>, DbError> {
        match self {
            Db::Sqlite(db) => db.transaction(stmts).await,
            Db::Postgres(pool, _) => postgres::transaction(pool, stmts).await,
        }
    }

    /// Runs a statement built at run time and returns all its rows, prepared for this call only (see the
    /// module documentation). On SQLite a statement that is not a `SELECT`/`WITH` goes through the writer.
    pub async fn query_dynamic(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Db::Sqlite(db) => db.query_dynamic(sql, params).await,
            Db::Postgres(pool, _) => postgres::query_dynamic(pool, sql, params).await,
        }
    }

    /// Runs one statement built at run time once for each parameter list of `rows`, in one transaction: every
    /// row or none. Prepared once for the call (see the module documentation); on PostgreSQL the rows are
    /// sent pipelined, so a thousand of them cost about one round trip. Returns the rows changed.
    pub async fn execute_many(&self, sql: &str, rows: Vec<Vec<Value>>) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(db) => db.execute_many(sql, rows).await,
            Db::Postgres(pool, _) => postgres::execute_many(pool, sql, &rows).await,
        }
    }

    /// Reads the rows of every query in `queries` (statements built at run time, without parameters), in
    /// order, `batch` rows at a time, all from **one** snapshot of the database: one read transaction
    /// (SQLite, on a connection and a thread of its own) or one read-only `REPEATABLE READ` transaction
    /// (PostgreSQL, on a pooled connection, through a portal), so they agree with each other however the
    /// database changes meanwhile. Only a batch or two is read ahead of the caller. Dropping the
    /// [`Snapshot`] ends the transaction.
    pub fn snapshot(&self, queries: Vec<String>, batch: usize) -> Result<Snapshot, DbError> {
        let rx = match self {
            Db::Sqlite(db) => db.snapshot(queries, batch)?,
            Db::Postgres(pool, _) => postgres::snapshot(pool, queries, batch),
        };
        Ok(Snapshot { rx })
    }

    /// Listens on PostgreSQL notification `channels` over a connection of its own; `None` on SQLite. The
    /// listener yields `(channel, payload)` until it is dropped or its connection is lost (then it ends:
    /// listen again).
    pub async fn listen(&self, channels: &[&str]) -> Result<Option<Listener>, DbError> {
        match self {
            Db::Sqlite(_) => Ok(None),
            Db::Postgres(_, cfg) => postgres::listen(cfg, channels).await.map(Some),
        }
    }

    /// Applies the migrations not yet recorded in `schema_migrations`, each in its own transaction.
    /// Several processes may start at once: SQLite serialises them with an immediate transaction,
    /// PostgreSQL with an advisory lock held for the whole run. Returns the versions applied.
    pub(crate) async fn migrate(&self, migrations: &[(i64, &str)]) -> Result<Vec<i64>, DbError> {
        let now = now_millis();
        match self {
            Db::Sqlite(db) => db.migrate(migrations, now).await,
            Db::Postgres(pool, _) => postgres::migrate(pool, migrations, now).await,
        }
    }
}
