//! The SQLite engine, reached through `rusqlite` *inline*, on the calling thread.
//!
//! On a small machine a hand-off to another thread or pool costs more than a primary-key read, so readers
//! take one of a few mutex-guarded connections, and every write goes to the one writer connection owned by
//! its own thread ([`super::writer`]), which groups concurrent writes into one commit.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::error::DbError;
use super::value::{Changed, Row, Stmt, Value};
use super::writer::Writer;
use crate::migrations::SCHEMA_MIGRATIONS;

/// SQLite: a few reader connections used inline, and one writer connection on its own thread.
pub struct SqliteDb {
    path: String,
    readers: Vec<Mutex<rusqlite::Connection>>,
    writer: Writer,
    next: AtomicUsize,
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

/// Turns constraint violations into [`DbError::Unique`] and [`DbError::ForeignKey`].
fn classify(e: rusqlite::Error) -> DbError {
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

/// Rewrites `$n` placeholders to SQLite's numbered `?n` form.
///
/// `LIMIT ?n` becomes `LIMIT +?n`: SQLite plans a bare bound `LIMIT` with its value, which marks the
/// statement stale whenever the parameter is bound again, so every run of a cached statement would be
/// parsed and planned anew. The unary `+` keeps the value out of planning (the plan is the one for an
/// unknown limit, as before SQLite 3.47).
fn sqlite_sql(sql: &str) -> String {
    if sql.contains("LIMIT $") { sql.replace("LIMIT $", "LIMIT +?") } else { sql.to_string() }.replace('$', "?")
}

fn open_connection(path: &str) -> Result<rusqlite::Connection, DbError> {
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

fn fetch(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql)).map_err(classify)?;
    let ncols = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(classify)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(classify)? {
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

fn exec(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql)).map_err(classify)?;
    let n = stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(classify)?;
    Ok(n as u64)
}

/// Whether a statement may change the database (and so must go through the writer).
fn is_write(sql: &str) -> bool {
    let head = sql.trim_start();
    let first = head.split_whitespace().next().unwrap_or("");
    !first.eq_ignore_ascii_case("SELECT") && !first.eq_ignore_ascii_case("WITH")
}

impl SqliteDb {
    pub(super) fn open(path: &str, readers: usize) -> Result<Self, DbError> {
        if let Some(parent) = Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        let writer = Writer::spawn(open_connection(path)?, "tlink-sqlite-writer".into())?;
        let readers =
            (0..readers.max(1)).map(|_| open_connection(path).map(Mutex::new)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { path: path.to_string(), readers, writer, next: AtomicUsize::new(0) })
    }

    /// The database file.
    pub(super) fn path(&self) -> &str {
        &self.path
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

    /// Runs a statement and returns its rows: reads on a reader connection, writes through the writer.
    pub(super) async fn query(&self, sql: &'static str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        if is_write(sql) {
            let params = params.to_vec();
            self.writer.write(move |c| fetch(c, sql, &params)).await
        } else {
            self.with_reader(|c| fetch(c, sql, params))
        }
    }

    pub(super) async fn execute(&self, sql: &'static str, params: &[Value]) -> Result<u64, DbError> {
        let params = params.to_vec();
        self.writer.write(move |c| exec(c, sql, &params)).await
    }

    /// Runs the statements under a savepoint of the writer's group transaction: all of them or none.
    pub(super) async fn transaction(&self, stmts: Vec<Stmt>) -> Result<Vec<Changed>, DbError> {
        self.writer
            .write(move |c| {
                stmts
                    .iter()
                    .map(|s| {
                        if s.returning {
                            let rows = fetch(c, s.sql, &s.params)?;
                            Ok(Changed { count: rows.len() as u64, rows })
                        } else {
                            Ok(Changed { count: exec(c, s.sql, &s.params)?, rows: Vec::new() })
                        }
                    })
                    .collect()
            })
            .await
    }

    /// Applies the migrations not yet recorded, alone on the writer thread; immediate transactions keep
    /// other processes out meanwhile.
    pub(super) async fn migrate(&self, migrations: &[(i64, &str)], now: i64) -> Result<Vec<i64>, DbError> {
        let migrations: Vec<(i64, String)> = migrations.iter().map(|(v, s)| (*v, (*s).to_string())).collect();
        self.writer.exclusive(move |conn| migrate(conn, &migrations, now)).await
    }
}

/// The first line of a SQLite migration that must run with foreign keys off.
const FOREIGN_KEYS_OFF: &str = "-- tlink: foreign_keys off";

/// Applies the SQLite migrations not yet recorded, each in its own transaction (on the writer thread, alone).
fn migrate(conn: &mut rusqlite::Connection, migrations: &[(i64, String)], now: i64) -> Result<Vec<i64>, DbError> {
    conn.execute_batch(SCHEMA_MIGRATIONS).map_err(classify)?;
    let mut applied = Vec::new();
    for (version, script) in migrations {
        // A migration that rebuilds a table runs with foreign keys off (SQLite's documented procedure:
        // otherwise dropping the old table cascades), and the keys are checked before it commits. The pragma
        // cannot change inside a transaction.
        let rebuilds = script.starts_with(FOREIGN_KEYS_OFF);
        if rebuilds {
            conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(classify)?;
        }
        let result = migration(conn, *version, script, rebuilds, now);
        if rebuilds {
            conn.execute_batch("PRAGMA foreign_keys = ON").map_err(classify)?;
        }
        if result? {
            applied.push(*version);
        }
    }
    Ok(applied)
}

/// Applies one SQLite migration in an immediate transaction unless it is recorded already; true if applied.
fn migration(
    conn: &mut rusqlite::Connection,
    version: i64,
    script: &str,
    check_keys: bool,
    now: i64,
) -> Result<bool, DbError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(classify)?;
    let done: i64 = tx
        .query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))
        .map_err(classify)?;
    if done > 0 {
        return Ok(false);
    }
    let failed = |e| DbError::Migration { version, source: Box::new(classify(e)) };
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
        .map_err(classify)?;
    tx.commit().map_err(classify)?;
    Ok(true)
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
            fetch(&conn, SQL, &[Value::Int(limit), Value::Int(limit * 10)]).unwrap();
        }
        let stmt = conn.prepare_cached(&sqlite_sql(SQL)).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
