//! The SQLite engine, reached through `rusqlite` *inline*, on the calling thread.
//!
//! On a small machine a hand-off to another thread or pool costs more than a primary-key read, so readers
//! take one of a few mutex-guarded connections, and every write goes to the one writer connection owned by
//! its own thread ([`super::writer`]), which groups concurrent writes into one commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::error::DbError;
use super::value::{Batch, Changed, Row, Stmt, Value, quote_ident};
use super::writer::Writer;
use crate::migrations::SCHEMA_MIGRATIONS;

/// SQLite: a few reader connections used inline, and one writer connection on its own thread.
pub struct SqliteDb {
    path: String,
    readers: Vec<Mutex<rusqlite::Connection>>,
    writer: Writer,
    /// Reads so far (it also picks the reader to try first).
    next: Arc<AtomicUsize>,
    _pin: ReadPin,
}

/// How long the pin's read transaction is held while reads are being made, and while none are.
const PIN_BUSY: Duration = Duration::from_millis(20);
const PIN_IDLE: Duration = Duration::from_secs(1);

/// A read transaction held open on a connection of its own, renewed every [`PIN_BUSY`] while the
/// database is being read.
///
/// Every statement outside a transaction begins and ends a read transaction, and in WAL mode that takes
/// and releases a shared lock on one of the WAL's read marks: a system call (`fcntl`) each way, made under
/// a mutex all connections of the process share. When another connection of the process already holds
/// that lock, SQLite only counts, with no system call. Readers choose the read mark of the latest commit,
/// so while this pin holds that mark, reads take and release it without a system call; after a write
/// they fall back to the system calls until the pin renews.
///
/// The pin changes no answer: each reader still starts its own transaction at the latest commit. It
/// delays only what needs every reader gone: the WAL's rewind to its start, by at most one renewal.
struct ReadPin {
    stop: Arc<(Mutex<bool>, parking_lot::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadPin {
    fn spawn(conn: rusqlite::Connection, reads: Arc<AtomicUsize>) -> std::io::Result<ReadPin> {
        let stop = Arc::new((Mutex::new(false), parking_lot::Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name("tlink-sqlite-pin".into()).spawn(move || {
            let (stopped, wake) = &*signal;
            let mut seen = reads.load(Ordering::Relaxed);
            loop {
                let began = conn.execute_batch("BEGIN").is_ok();
                // The first read takes the shared lock on the latest read mark.
                let _ = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0));
                let now = reads.load(Ordering::Relaxed);
                let hold = if now == seen { PIN_IDLE } else { PIN_BUSY };
                seen = now;
                let mut flag = stopped.lock();
                if !*flag {
                    wake.wait_for(&mut flag, hold);
                }
                let done = *flag;
                drop(flag);
                if began {
                    let _ = conn.execute_batch("COMMIT");
                }
                if done {
                    break;
                }
            }
        })?;
        Ok(ReadPin { stop, thread: Some(thread) })
    }
}

impl Drop for ReadPin {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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

/// [`sqlite_sql`] of a statement written in the source, rewritten once per process. The statements form
/// a fixed set, and on a primary-key read copying and searching a long statement on every run was a
/// measurable share of the work. Entries are never removed: there is one per statement in the source.
fn static_sql(sql: &'static str) -> &'static str {
    static REWRITTEN: LazyLock<RwLock<HashMap<(usize, usize), &'static str>>> = LazyLock::new(RwLock::default);
    // By address and length: two statements can share an address only if one is a prefix of the other.
    let key = (sql.as_ptr() as usize, sql.len());
    if let Some(&done) = REWRITTEN.read().get(&key) {
        return done;
    }
    let mut rewritten = REWRITTEN.write();
    let done: &&'static str = rewritten.entry(key).or_insert_with(|| Box::leak(sqlite_sql(sql).into_boxed_str()));
    done
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

fn fetch(conn: &rusqlite::Connection, sql: &'static str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(static_sql(sql)).map_err(classify)?;
    read_all(&mut stmt, params)
}

/// Runs a prepared statement and reads all its rows.
fn read_all(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let ncols = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(classify)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(classify)? {
        out.push(read_row(r, ncols)?);
    }
    Ok(out)
}

/// One row in the value model.
fn read_row(r: &rusqlite::Row<'_>, ncols: usize) -> Result<Row, DbError> {
    use rusqlite::types::ValueRef;
    let mut vals = Vec::with_capacity(ncols);
    for i in 0..ncols {
        vals.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Real(v),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
        });
    }
    Ok(Row(vals))
}

fn exec(conn: &rusqlite::Connection, sql: &'static str, params: &[Value]) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(static_sql(sql)).map_err(classify)?;
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
        let next = Arc::new(AtomicUsize::new(0));
        let pin = ReadPin::spawn(open_connection(path)?, Arc::clone(&next))?;
        Ok(Self { path: path.to_string(), readers, writer, next, _pin: pin })
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

    /// Runs a statement built at run time, prepared without the statement cache (see
    /// [`Db::query_dynamic`](crate::Db::query_dynamic)): reads on a reader connection, writes through the
    /// writer.
    pub(super) async fn query_dynamic(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let sql = sqlite_sql(sql);
        if is_write(&sql) {
            let params = params.to_vec();
            self.writer
                .write(move |c| {
                    let mut stmt = c.prepare(&sql).map_err(classify)?;
                    read_all(&mut stmt, &params)
                })
                .await
        } else {
            self.with_reader(|c| {
                let mut stmt = c.prepare(&sql).map_err(classify)?;
                read_all(&mut stmt, params)
            })
        }
    }

    /// Runs one statement built at run time once per parameter list, through the writer under one savepoint:
    /// every row or none. Prepared once, without the statement cache.
    pub(super) async fn execute_many(&self, sql: &str, rows: Vec<Vec<Value>>) -> Result<u64, DbError> {
        let sql = sqlite_sql(sql);
        self.writer
            .write(move |c| {
                let mut stmt = c.prepare(&sql).map_err(classify)?;
                let mut changed = 0u64;
                for params in &rows {
                    changed += stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(classify)? as u64;
                }
                Ok(changed)
            })
            .await
    }

    /// Reads the rows of `queries`, `batch` at a time, in one read transaction on a connection and a thread of
    /// their own (see [`Db::snapshot`](crate::Db::snapshot)).
    pub(super) fn snapshot(
        &self,
        queries: Vec<String>,
        batch: usize,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Batch, DbError>>, DbError> {
        let conn = open_connection(&self.path)?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        std::thread::Builder::new().name("tlink-sqlite-snapshot".into()).spawn(move || {
            if let Err(e) = read_snapshot(&conn, &queries, batch.max(1), &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })?;
        Ok(rx)
    }

    /// Writes a consistent copy of the whole database into `dest` (a file that does not exist or is empty)
    /// with `VACUUM INTO`, on a connection of its own, outside any transaction. It reads one snapshot, so the
    /// writer goes on meanwhile (WAL) and the copy holds exactly the transactions committed before it began.
    /// The copy is left in rollback-journal mode. Blocks: call it off the async threads.
    pub(crate) fn vacuum_into(&self, dest: &str) -> Result<(), DbError> {
        let conn = rusqlite::Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute("VACUUM INTO ?1", [dest]).map_err(classify)?;
        // The copy is one self-contained file (a rollback journal, not WAL), which opens read-only anywhere.
        let copy = rusqlite::Connection::open(dest)?;
        copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
        Ok(())
    }

    /// Replaces the whole database with the SQLite database in the file `src`, through SQLite's online backup
    /// API on the writer connection, alone. The pages are written in one write transaction, so another
    /// connection sees the old database or the new one, never a mix, and a WAL database stays consistent
    /// (copying files under a live WAL would not).
    pub(crate) async fn restore_from(&self, src: &Path) -> Result<(), DbError> {
        let src = src.to_path_buf();
        self.writer.exclusive(move |conn| restore(conn, &src)).await
    }
}

/// Sends the rows of each query, `batch` at a time, all read in one transaction; stops quietly when the
/// receiver is gone (the reader gave up).
fn read_snapshot(
    conn: &rusqlite::Connection,
    queries: &[String],
    batch: usize,
    out: &tokio::sync::mpsc::Sender<Result<Batch, DbError>>,
) -> Result<(), DbError> {
    // Deferred: the snapshot is taken at the first read, and every query of the transaction sees that one.
    conn.execute_batch("BEGIN").map_err(classify)?;
    for (query, sql) in queries.iter().enumerate() {
        let mut stmt = conn.prepare(&sqlite_sql(sql)).map_err(classify)?;
        let ncols = stmt.column_count();
        let mut rows = stmt.query([]).map_err(classify)?;
        let mut next = Vec::with_capacity(batch);
        while let Some(r) = rows.next().map_err(classify)? {
            next.push(read_row(r, ncols)?);
            if next.len() == batch {
                let full = std::mem::replace(&mut next, Vec::with_capacity(batch));
                if out.blocking_send(Ok(Batch { query, rows: full, last: false })).is_err() {
                    return Ok(());
                }
            }
        }
        if out.blocking_send(Ok(Batch { query, rows: next, last: true })).is_err() {
            return Ok(());
        }
    }
    conn.execute_batch("COMMIT").map_err(classify)
}

/// Copies every page of the database in `src` over the database of `conn` (see [`SqliteDb::restore_from`]).
fn restore(conn: &mut rusqlite::Connection, src: &Path) -> Result<(), DbError> {
    use rusqlite::backup::{Backup, StepResult};
    let from = rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let backup = Backup::new(&from, conn)?;
    let mut waits = 0;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            // Another connection holds a lock on the destination: wait for it, up to ten seconds.
            StepResult::Busy | StepResult::Locked if waits < 100 => {
                waits += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            StepResult::Busy | StepResult::Locked => {
                return Err(DbError::Sqlite(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("another connection kept the database locked for 10 s".into()),
                )));
            }
            _ => {}
        }
    }
}

/// What a SQLite database file holds, read without changing it ([`inspect_file`]).
#[derive(Debug, Clone)]
pub(crate) struct FileSummary {
    /// The answer of `PRAGMA integrity_check`: `["ok"]` for a sound file.
    pub integrity: Vec<String>,
    /// The versions recorded in `schema_migrations`, in order; `None` when there is no such table.
    pub versions: Option<Vec<i64>>,
    /// Every table but SQLite's own, by name, with its row count (empty when the integrity check failed).
    pub tables: Vec<(String, u64)>,
}

/// Opens the SQLite file at `path` read-only and reports its integrity, recorded migrations and tables.
/// Blocks: call it off the async threads.
pub(crate) fn inspect_file(path: &Path) -> Result<FileSummary, DbError> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let integrity = {
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?
    };
    if integrity != ["ok"] {
        return Ok(FileSummary { integrity, versions: None, tables: Vec::new() });
    }
    let names = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name",
        )?;
        stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let count: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {}", quote_ident(&name)), [], |r| r.get(0))?;
        tables.push((name, u64::try_from(count).unwrap_or(0)));
    }
    let versions = if tables.iter().any(|(t, _)| t == "schema_migrations") {
        let mut stmt = conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
        Some(stmt.query_map([], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?)
    } else {
        None
    };
    Ok(FileSummary { integrity, versions, tables })
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
        let stmt = conn.prepare_cached(static_sql(SQL)).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
