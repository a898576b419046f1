//! The database handle: one small executor over two engines.
//!
//! Every query in this crate is written once, with PostgreSQL-style `$1…$n` placeholders, and runs on
//! either engine. SQLite is reached through `rusqlite` *inline*, on the calling thread: on a small machine a
//! hand-off to another thread or pool costs more than a primary-key read, so readers take one of a few
//! mutex-guarded connections and writers share one write connection (in-process writers queue on its mutex
//! instead of spinning in SQLite's busy handler). PostgreSQL is reached through `tokio-postgres` with a
//! `deadpool` pool and per-connection prepared-statement caches.
//!
//! Parameters and results use a tiny value model ([`Value`], [`Row`]): integers, text, booleans, floats and
//! NULL. Times are stored as unix milliseconds, ids and JSON as text, so both engines agree on every value.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// A failed database operation.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint rejected the write; the payload names the constraint or index when known.
    #[error("unique constraint violated ({0})")]
    Unique(String),
    /// A foreign key rejected the write.
    #[error("foreign key constraint violated")]
    ForeignKey,
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("postgres configuration: {0}")]
    PoolConfig(String),
    #[error("unexpected column type at index {index}: expected {expected}")]
    Decode { index: usize, expected: &'static str },
    #[error("migration {version} failed: {source}")]
    Migration {
        version: i64,
        #[source]
        source: Box<DbError>,
    },
    #[error("unsupported database url `{0}`: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("creating the database directory: {0}")]
    Io(#[from] std::io::Error),
    /// A write that succeeded on its own was rolled back with the others of its commit (SQLite).
    #[error("sqlite: the write was rolled back: {0}")]
    Commit(String),
    /// The task or thread that carries out writes (SQLite's writer thread, PostgreSQL's report group) did
    /// not answer: it is gone (the process is shutting down), or the write panicked and was rolled back.
    #[error("the write was not carried out (the writer stopped or the write failed unexpectedly)")]
    WriterStopped,
    /// A stored JSON column does not decode (see [`crate::decode_json`]).
    #[error("corrupt stored JSON in {table}.{column} of row {id}")]
    Corrupt {
        table: &'static str,
        id: String,
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl DbError {
    fn classify_sqlite(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(code, msg) = &e {
            match code.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return DbError::Unique(msg.clone().unwrap_or_default());
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return DbError::ForeignKey,
                _ => {}
            }
        }
        DbError::Sqlite(e)
    }

    fn classify_pg(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            if *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
                return DbError::Unique(db.constraint().unwrap_or_default().to_string());
            }
            if *db.code() == tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION {
                return DbError::ForeignKey;
            }
        }
        DbError::Postgres(e)
    }
}

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
    ($($v:expr),* $(,)?) => { [$($crate::db::Value::from($v)),*] };
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
        })
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Real(f) => f.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Bool(b) => match *ty {
                Type::INT2 | Type::INT4 | Type::INT8 => i64::from(*b).to_sql(&Type::INT8, out),
                _ => b.to_sql(ty, out),
            },
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
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

/// A statement with its parameters, for [`Db::transaction`].
#[derive(Clone)]
pub struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Value>,
    /// Its rows are wanted ([`Db::transaction_returning`]); otherwise only the count of rows it changed.
    pub returning: bool,
}

impl Stmt {
    pub fn new(sql: &'static str, params: impl Into<Vec<Value>>) -> Self {
        Self { sql, params: params.into(), returning: false }
    }

    /// A statement whose rows (`RETURNING …`) [`Db::transaction_returning`] answers with.
    pub fn returning(sql: &'static str, params: impl Into<Vec<Value>>) -> Self {
        Self { sql, params: params.into(), returning: true }
    }
}

/// What one statement of [`Db::transaction_returning`] did: the rows it changed, and the rows it returned
/// when it was made with [`Stmt::returning`] (then the count is theirs).
#[derive(Debug, Default)]
pub struct Changed {
    pub count: u64,
    pub rows: Vec<Row>,
}

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
            Db::Sqlite(s) => write!(f, "Db::Sqlite({})", s.path),
            Db::Postgres(..) => write!(f, "Db::Postgres"),
        }
    }
}

/// Notifications received on a listening connection ([`Db::listen`]). Dropping it closes the connection.
pub struct Listener {
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    _client: tokio_postgres::Client,
}

impl Listener {
    /// The next `(channel, payload)`; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<(String, String)> {
        self.rx.recv().await
    }
}

/// SQLite: a few reader connections used inline, and one writer connection on its own thread
/// (`writer.rs`).
pub struct SqliteDb {
    path: String,
    readers: Vec<Mutex<rusqlite::Connection>>,
    writer: crate::writer::Writer,
    next: AtomicUsize,
}

/// Rewrites `$n` placeholders to SQLite's numbered `?n` form.
///
/// `LIMIT ?n` becomes `LIMIT +?n`: SQLite plans a bare bound `LIMIT` with its value, which marks the
/// statement stale whenever the parameter is bound again, so every run of a cached statement would be
/// parsed and planned anew. The unary `+` keeps the value out of planning (the plan is the one for an
/// unknown limit, as before SQLite 3.47).
fn sqlite_sql(sql: &str) -> String {
    if sql.contains("LIMIT $") { sql.replace("LIMIT $", "LIMIT +?") } else { sql.to_string() }.replace('$', "?")
}

fn open_sqlite(path: &str) -> Result<rusqlite::Connection, DbError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )?;
    conn.set_prepared_statement_cache_capacity(128);
    // SQLite's built-in LOWER() folds ASCII only; PostgreSQL's folds Unicode. Replace it so that
    // case-insensitive search behaves the same on both engines.
    conn.create_scalar_function(
        "lower",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8 | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_lowercase())),
    )?;
    Ok(conn)
}

fn sqlite_rows(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql)).map_err(DbError::classify_sqlite)?;
    let ncols = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(DbError::classify_sqlite)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(DbError::classify_sqlite)? {
        let mut vals = Vec::with_capacity(ncols);
        for i in 0..ncols {
            use rusqlite::types::ValueRef;
            vals.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(v) => Value::Real(v),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
            });
        }
        out.push(Row(vals));
    }
    Ok(out)
}

fn sqlite_exec(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql)).map_err(DbError::classify_sqlite)?;
    let n = stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(DbError::classify_sqlite)?;
    Ok(n as u64)
}

/// Whether a statement may change the database (and so must go through the writer).
fn is_write(sql: &str) -> bool {
    let head = sql.trim_start();
    let first = head.split_whitespace().next().unwrap_or("");
    !first.eq_ignore_ascii_case("SELECT") && !first.eq_ignore_ascii_case("WITH")
}

impl SqliteDb {
    fn open(path: &str, readers: usize) -> Result<Self, DbError> {
        if let Some(parent) = Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        let writer = crate::writer::Writer::spawn(open_sqlite(path)?, "tlink-sqlite-writer".into())?;
        let readers = (0..readers.max(1)).map(|_| open_sqlite(path).map(Mutex::new)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { path: path.to_string(), readers, writer, next: AtomicUsize::new(0) })
    }

    fn with_reader<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
        let n = self.readers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Some(conn) = self.readers[(start + i) % n].try_lock() {
                return f(&conn);
            }
        }
        let conn = self.readers[start % n].lock();
        f(&conn)
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
        let mgr = deadpool_postgres::Manager::from_config(
            cfg.clone(),
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
        );
        let pool = deadpool_postgres::Pool::builder(mgr)
            .max_size(pool_size.max(1))
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::PoolConfig(e.to_string()))?;
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
            Db::Sqlite(db) => {
                if is_write(sql) {
                    let params = params.to_vec();
                    db.writer.write(move |c| sqlite_rows(c, sql, &params)).await
                } else {
                    db.with_reader(|c| sqlite_rows(c, sql, params))
                }
            }
            Db::Postgres(pool, _) => {
                let client = pool.get().await?;
                let stmt = client.prepare_cached(sql).await.map_err(DbError::classify_pg)?;
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let rows = client.query(&stmt, &refs).await.map_err(DbError::classify_pg)?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// Runs a statement and returns its first row, if any.
    pub async fn query_opt(&self, sql: &'static str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&self, sql: &'static str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(db) => {
                let params = params.to_vec();
                db.writer.write(move |c| sqlite_exec(c, sql, &params)).await
            }
            Db::Postgres(pool, _) => {
                let client = pool.get().await?;
                let stmt = client.prepare_cached(sql).await.map_err(DbError::classify_pg)?;
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                client.execute(&stmt, &refs).await.map_err(DbError::classify_pg)
            }
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
            Db::Sqlite(db) => {
                db.writer
                    .write(move |c| {
                        stmts
                            .iter()
                            .map(|s| {
                                if s.returning {
                                    let rows = sqlite_rows(c, s.sql, &s.params)?;
                                    Ok(Changed { count: rows.len() as u64, rows })
                                } else {
                                    Ok(Changed { count: sqlite_exec(c, s.sql, &s.params)?, rows: Vec::new() })
                                }
                            })
                            .collect()
                    })
                    .await
            }
            Db::Postgres(pool, _) => {
                let mut client = pool.get().await?;
                let tx = client.transaction().await.map_err(DbError::classify_pg)?;
                let prepared = pg_prepare(&tx, &stmts).await?;
                let refs = pg_params(&stmts);
                let txr = &tx;
                // Each future sends its statement when first polled: all of them go out before any answer.
                let futures = prepared.iter().zip(&refs).zip(&stmts).map(|((stmt, params), s)| async move {
                    let tx = txr;
                    if s.returning {
                        let rows = tx.query(stmt, params).await.map_err(DbError::classify_pg)?;
                        let rows = rows.iter().map(pg_row).collect::<Result<Vec<_>, _>>()?;
                        Ok::<_, DbError>(Changed { count: rows.len() as u64, rows })
                    } else {
                        let count = tx.execute(stmt, params).await.map_err(DbError::classify_pg)?;
                        Ok(Changed { count, rows: Vec::new() })
                    }
                });
                let out = futures_util::future::join_all(futures).await.into_iter().collect::<Result<Vec<_>, _>>()?;
                tx.commit().await.map_err(DbError::classify_pg)?;
                Ok(out)
            }
        }
    }

    /// Listens on PostgreSQL notification `channels` over a connection of its own; `None` on SQLite. The
    /// listener yields `(channel, payload)` until it is dropped or its connection is lost (then it ends:
    /// listen again).
    pub async fn listen(&self, channels: &[&str]) -> Result<Option<Listener>, DbError> {
        let Db::Postgres(_, cfg) = self else { return Ok(None) };
        let (client, mut conn) = cfg.connect(tokio_postgres::NoTls).await.map_err(DbError::classify_pg)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // The connection must be driven for any query on it to finish, so the task starts first.
        tokio::spawn(async move {
            let mut messages = std::pin::pin!(futures_util::stream::poll_fn(move |cx| conn.poll_message(cx)));
            while let Some(message) = futures_util::StreamExt::next(&mut messages).await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        if tx.send((n.channel().to_string(), n.payload().to_string())).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the notification connection failed");
                        break;
                    }
                }
            }
        });
        let listen: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
        client.batch_execute(&listen).await.map_err(DbError::classify_pg)?;
        Ok(Some(Listener { rx, _client: client }))
    }

    /// Applies the migrations not yet recorded in `schema_migrations`, each in its own transaction.
    /// Several processes may start at once: SQLite serialises them with an immediate transaction,
    /// PostgreSQL with an advisory lock held for the whole run. Returns the versions applied.
    pub(crate) async fn migrate(&self, migrations: &[(i64, &str)]) -> Result<Vec<i64>, DbError> {
        let now = now_millis();
        let mut applied = Vec::new();
        match self {
            Db::Sqlite(db) => {
                let migrations: Vec<(i64, String)> = migrations.iter().map(|(v, s)| (*v, (*s).to_string())).collect();
                applied = db.writer.exclusive(move |conn| sqlite_migrate(conn, &migrations, now)).await?;
            }
            Db::Postgres(pool, _) => {
                const LOCK: i64 = 0x0074_6c69_6e6b; // "tlink"
                let mut client = pool.get().await?;
                client.execute("SELECT pg_advisory_lock($1)", &[&LOCK]).await.map_err(DbError::classify_pg)?;
                let result = async {
                    client.batch_execute(SCHEMA_MIGRATIONS).await.map_err(DbError::classify_pg)?;
                    for (version, script) in migrations {
                        let tx = client.transaction().await.map_err(DbError::classify_pg)?;
                        let done: i64 = tx
                            .query_one("SELECT COUNT(*) FROM schema_migrations WHERE version = $1", &[version])
                            .await
                            .map_err(DbError::classify_pg)?
                            .get(0);
                        if done > 0 {
                            continue;
                        }
                        tx.batch_execute(script).await.map_err(|e| DbError::Migration {
                            version: *version,
                            source: Box::new(DbError::classify_pg(e)),
                        })?;
                        tx.execute(
                            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                            &[version, &now],
                        )
                        .await
                        .map_err(DbError::classify_pg)?;
                        tx.commit().await.map_err(DbError::classify_pg)?;
                        applied.push(*version);
                    }
                    Ok::<_, DbError>(())
                }
                .await;
                client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK]).await.map_err(DbError::classify_pg)?;
                result?;
            }
        }
        Ok(applied)
    }
}

/// Prepares (from the connection's cache) every statement of a pipelined batch.
async fn pg_prepare(
    tx: &deadpool_postgres::Transaction<'_>,
    stmts: &[Stmt],
) -> Result<Vec<tokio_postgres::Statement>, DbError> {
    let mut prepared = Vec::with_capacity(stmts.len());
    for s in stmts {
        prepared.push(tx.prepare_cached(s.sql).await.map_err(DbError::classify_pg)?);
    }
    Ok(prepared)
}

/// The parameters of every statement of a batch, as tokio-postgres takes them.
fn pg_params(stmts: &[Stmt]) -> Vec<Vec<&(dyn ToSql + Sync)>> {
    stmts.iter().map(|s| s.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()).collect()
}

const SCHEMA_MIGRATIONS: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// The first line of a SQLite migration that must run with foreign keys off.
const SQLITE_FOREIGN_KEYS_OFF: &str = "-- tlink: foreign_keys off";

/// Applies the SQLite migrations not yet recorded, each in its own transaction (on the writer thread, alone).
fn sqlite_migrate(
    conn: &mut rusqlite::Connection,
    migrations: &[(i64, String)],
    now: i64,
) -> Result<Vec<i64>, DbError> {
    conn.execute_batch(SCHEMA_MIGRATIONS).map_err(DbError::classify_sqlite)?;
    let mut applied = Vec::new();
    for (version, script) in migrations {
        // A migration that rebuilds a table runs with foreign keys off (SQLite's documented procedure:
        // otherwise dropping the old table cascades), and the keys are checked before it commits. The pragma
        // cannot change inside a transaction.
        let rebuilds = script.starts_with(SQLITE_FOREIGN_KEYS_OFF);
        if rebuilds {
            conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(DbError::classify_sqlite)?;
        }
        let result = sqlite_migration(conn, *version, script, rebuilds, now);
        if rebuilds {
            conn.execute_batch("PRAGMA foreign_keys = ON").map_err(DbError::classify_sqlite)?;
        }
        if result? {
            applied.push(*version);
        }
    }
    Ok(applied)
}

/// Applies one SQLite migration in an immediate transaction unless it is recorded already; true if applied.
fn sqlite_migration(
    conn: &mut rusqlite::Connection,
    version: i64,
    script: &str,
    check_keys: bool,
    now: i64,
) -> Result<bool, DbError> {
    let tx =
        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(DbError::classify_sqlite)?;
    let done: i64 = tx
        .query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))
        .map_err(DbError::classify_sqlite)?;
    if done > 0 {
        return Ok(false);
    }
    let failed = |e| DbError::Migration { version, source: Box::new(DbError::classify_sqlite(e)) };
    tx.execute_batch(script).map_err(failed)?;
    if check_keys {
        let violations: i64 =
            tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).map_err(failed)?;
        if violations > 0 {
            return Err(DbError::Migration {
                version,
                source: Box::new(DbError::Decode { index: 0, expected: "no foreign key violations" }),
            });
        }
    }
    tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", [version, now])
        .map_err(DbError::classify_sqlite)?;
    tx.commit().map_err(DbError::classify_sqlite)?;
    Ok(true)
}

/// The current time as unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn pg_row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut vals = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map_or(Value::Null, Value::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map_or(Value::Null, |v| Value::Int(v.into())),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map_or(Value::Null, |v| Value::Int(v.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map_or(Value::Null, Value::Bool),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map_or(Value::Null, Value::Real),
            Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map_or(Value::Null, |v| Value::Real(v.into())),
            _ => r.try_get::<_, Option<String>>(i)?.map_or(Value::Null, Value::Text),
        };
        vals.push(v);
    }
    Ok(Row(vals))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cached statement with a bound `LIMIT` runs again without being parsed and planned again.
    #[test]
    fn limited_statements_are_not_prepared_again() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, s TEXT); CREATE INDEX t_s ON t (s) WHERE s = 'a';")
            .unwrap();
        const SQL: &str = "SELECT k FROM t WHERE s = 'a' AND k > $1 ORDER BY k DESC LIMIT $2";
        for limit in 1..=5i64 {
            sqlite_rows(&conn, SQL, &[Value::Int(limit), Value::Int(limit * 10)]).unwrap();
        }
        let stmt = conn.prepare_cached(&sqlite_sql(SQL)).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
