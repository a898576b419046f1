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
pub use value::{Changed, Dialect, Row, Stmt, Value, now_millis};

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

impl Db {
    /// Opens the database named by `url`: `sqlite://path` (or `sqlite:path`) or `postgres://…`.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Db, DbError> {
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let path = path.split('?').next().unwrap_or(path).to_string();
            let db = SqliteDb::open(&path, pool_size.clamp(1, 16))?;
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
