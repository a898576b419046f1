//! The PostgreSQL engine, reached through `tokio-postgres` with a `deadpool` pool and per-connection
//! prepared-statement caches. Batches of statements are pipelined, and one connection of its own listens for
//! notifications.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::error::DbError;
use super::value::{Batch, Changed, Row, Stmt, Value};
use crate::migrations::SCHEMA_MIGRATIONS;

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

/// Turns constraint violations into [`DbError::Unique`] and [`DbError::ForeignKey`].
fn classify(e: tokio_postgres::Error) -> DbError {
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

/// Notifications received on a listening connection ([`Db::listen`](crate::Db::listen)). Dropping it closes
/// the connection.
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

/// A pool of at most `pool_size` connections configured by `cfg`.
pub(super) fn pool(cfg: &tokio_postgres::Config, pool_size: usize) -> Result<deadpool_postgres::Pool, DbError> {
    let mgr = deadpool_postgres::Manager::from_config(
        cfg.clone(),
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
    );
    deadpool_postgres::Pool::builder(mgr)
        .max_size(pool_size.max(1))
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::PoolConfig(e.to_string()))
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

pub(super) async fn query(
    pool: &deadpool_postgres::Pool,
    sql: &'static str,
    params: &[Value],
) -> Result<Vec<Row>, DbError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(sql).await.map_err(classify)?;
    let rows = client.query(&stmt, &refs(params)).await.map_err(classify)?;
    rows.iter().map(row).collect()
}

pub(super) async fn execute(
    pool: &deadpool_postgres::Pool,
    sql: &'static str,
    params: &[Value],
) -> Result<u64, DbError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(sql).await.map_err(classify)?;
    client.execute(&stmt, &refs(params)).await.map_err(classify)
}

/// Runs the statements in one transaction, sent pipelined: a batch costs about one round trip, and the
/// server still runs them in order (the first error aborts the transaction).
pub(super) async fn transaction(pool: &deadpool_postgres::Pool, stmts: Vec<Stmt>) -> Result<Vec<Changed>, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await.map_err(classify)?;
    let prepared = prepare(&tx, &stmts).await?;
    let params: Vec<_> = stmts.iter().map(|s| refs(&s.params)).collect();
    let txr = &tx;
    // Each future sends its statement when first polled: all of them go out before any answer.
    let futures = prepared.iter().zip(&params).zip(&stmts).map(|((stmt, params), s)| async move {
        let tx = txr;
        if s.returning {
            let rows = tx.query(stmt, params).await.map_err(classify)?;
            let rows = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
            Ok::<_, DbError>(Changed { count: rows.len() as u64, rows })
        } else {
            let count = tx.execute(stmt, params).await.map_err(classify)?;
            Ok(Changed { count, rows: Vec::new() })
        }
    });
    let out = futures_util::future::join_all(futures).await.into_iter().collect::<Result<Vec<_>, _>>()?;
    tx.commit().await.map_err(classify)?;
    Ok(out)
}

/// Runs a statement built at run time (see [`Db::query_dynamic`](crate::Db::query_dynamic)): prepared for
/// this call only, outside the connection's statement cache.
pub(super) async fn query_dynamic(
    pool: &deadpool_postgres::Pool,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>, DbError> {
    let client = pool.get().await?;
    let rows = client.query(sql, &refs(params)).await.map_err(classify)?;
    rows.iter().map(row).collect()
}

/// Runs one statement built at run time once per parameter list, in one transaction (every row or none),
/// prepared once outside the statement cache and sent pipelined: a batch costs about one round trip.
pub(super) async fn execute_many(
    pool: &deadpool_postgres::Pool,
    sql: &str,
    rows: &[Vec<Value>],
) -> Result<u64, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await.map_err(classify)?;
    let stmt = tx.prepare(sql).await.map_err(classify)?;
    let params: Vec<_> = rows.iter().map(|r| refs(r.as_slice())).collect();
    let (txr, stmtr) = (&tx, &stmt);
    // Each future sends its row when first polled: all of them go out before any answer.
    let futures = params.iter().map(|p| async move { txr.execute(stmtr, p).await.map_err(classify) });
    let counts = futures_util::future::join_all(futures).await.into_iter().collect::<Result<Vec<u64>, _>>()?;
    tx.commit().await.map_err(classify)?;
    Ok(counts.iter().sum())
}

/// Reads the rows of `queries`, `batch` at a time, in one read-only REPEATABLE READ transaction (one
/// snapshot for all of them) on a task of its own (see [`Db::snapshot`](crate::Db::snapshot)).
pub(super) fn snapshot(
    pool: &deadpool_postgres::Pool,
    queries: Vec<String>,
    batch: usize,
) -> tokio::sync::mpsc::Receiver<Result<Batch, DbError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let pool = pool.clone();
    tokio::spawn(async move {
        if let Err(e) = read_snapshot(&pool, &queries, batch.max(1), &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// Sends the rows of each query through a portal, `batch` at a time; stops quietly when the receiver is
/// gone (the reader gave up).
async fn read_snapshot(
    pool: &deadpool_postgres::Pool,
    queries: &[String],
    batch: usize,
    out: &tokio::sync::mpsc::Sender<Result<Batch, DbError>>,
) -> Result<(), DbError> {
    let mut client = pool.get().await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(classify)?;
    let max_rows = i32::try_from(batch).unwrap_or(i32::MAX);
    for (query, sql) in queries.iter().enumerate() {
        let portal = tx.bind(sql.as_str(), &[]).await.map_err(classify)?;
        loop {
            let rows = tx.query_portal(&portal, max_rows).await.map_err(classify)?;
            let last = rows.len() < batch;
            let rows = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
            if out.send(Ok(Batch { query, rows, last })).await.is_err() {
                return Ok(());
            }
            if last {
                break;
            }
        }
    }
    tx.commit().await.map_err(classify)
}

/// Prepares (from the connection's cache) every statement of a pipelined batch.
async fn prepare(
    tx: &deadpool_postgres::Transaction<'_>,
    stmts: &[Stmt],
) -> Result<Vec<tokio_postgres::Statement>, DbError> {
    let mut prepared = Vec::with_capacity(stmts.len());
    for s in stmts {
        prepared.push(tx.prepare_cached(s.sql).await.map_err(classify)?);
    }
    Ok(prepared)
}

/// Listens on `channels` over a connection of its own, which yields `(channel, payload)` until the
/// listener is dropped or the connection is lost.
pub(super) async fn listen(cfg: &Arc<tokio_postgres::Config>, channels: &[&str]) -> Result<Listener, DbError> {
    let (client, mut conn) = cfg.connect(tokio_postgres::NoTls).await.map_err(classify)?;
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
    client.batch_execute(&listen).await.map_err(classify)?;
    Ok(Listener { rx, _client: client })
}

/// Applies the migrations not yet recorded, each in its own transaction, under an advisory lock held for the
/// whole run (several processes may start at once).
pub(super) async fn migrate(
    pool: &deadpool_postgres::Pool,
    migrations: &[(i64, &str)],
    now: i64,
) -> Result<Vec<i64>, DbError> {
    const LOCK: i64 = 0x0074_6c69_6e6b; // "tlink"
    let mut applied = Vec::new();
    let mut client = pool.get().await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK]).await.map_err(classify)?;
    let result = async {
        client.batch_execute(SCHEMA_MIGRATIONS).await.map_err(classify)?;
        for (version, script) in migrations {
            let tx = client.transaction().await.map_err(classify)?;
            let done: i64 = tx
                .query_one("SELECT COUNT(*) FROM schema_migrations WHERE version = $1", &[version])
                .await
                .map_err(classify)?
                .get(0);
            if done > 0 {
                continue;
            }
            tx.batch_execute(script)
                .await
                .map_err(|e| DbError::Migration { version: *version, source: Box::new(classify(e)) })?;
            tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &[version, &now])
                .await
                .map_err(classify)?;
            tx.commit().await.map_err(classify)?;
            applied.push(*version);
        }
        Ok::<_, DbError>(())
    }
    .await;
    client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK]).await.map_err(classify)?;
    result?;
    Ok(applied)
}

fn row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
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
