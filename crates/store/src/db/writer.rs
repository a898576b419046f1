//! SQLite's one writer connection, owned by its own thread, with group commit.
//!
//! SQLite allows one writer at a time. Writing inline, on the caller's thread, made every contended write
//! block a tokio worker thread on the writer's mutex, and a commit that triggered a WAL checkpoint blocked
//! it on `fsync`: on a two-core machine that idles half the runtime while requests wait. Instead, every
//! write is sent here as a closure, and the caller awaits its answer.
//!
//! The thread takes whatever writes are waiting (up to [`MAX_GROUP`]) and runs them in **one** immediate
//! transaction, each inside its own `SAVEPOINT`: a write that fails is rolled back to its savepoint and
//! answered with its error, and the others are unaffected — every write is still all-or-nothing, exactly as
//! if it had its own transaction. Their answers are sent only after the `COMMIT` succeeded (or with the
//! commit's error if it did not), so nobody sees a write reported done that is not in the database. Under
//! load this turns N commits (N WAL appends of the same hot pages) into one; when idle a group is a single
//! write.
//!
//! Writes that must control the connection themselves (migrations toggle `PRAGMA foreign_keys`, which
//! cannot change inside a transaction) are *exclusive*: they run alone, outside any group.

use std::sync::mpsc;

use super::error::DbError;

/// At most this many writes share one commit.
const MAX_GROUP: usize = 128;

/// Sends a write's answer once its fate is known: `Ok` when its group committed (or when it failed on its
/// own, in which case it answers with its own error), `Err` when the commit or the group failed.
type Answer = Box<dyn FnOnce(Result<(), GroupFailed>) + Send>;

/// The body of a queued write.
type Run = Box<dyn FnOnce(Result<&mut rusqlite::Connection, GroupFailed>) -> (bool, Answer) + Send>;

/// A queued write: runs on the connection (or, given an error, only takes it as its result) and says
/// whether it succeeded, with how to answer it.
struct Op {
    exclusive: bool,
    run: Run,
}

/// Why a write that succeeded on its own did not last: its group was rolled back.
#[derive(Debug, Clone)]
pub(crate) struct GroupFailed(String);

impl From<GroupFailed> for DbError {
    fn from(e: GroupFailed) -> Self {
        DbError::Commit(e.0)
    }
}

/// The handle to the writer thread. Dropping every handle ends the thread once the queue is drained.
pub(crate) struct Writer {
    ops: mpsc::Sender<Op>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(crate) fn spawn(conn: rusqlite::Connection, name: String) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Op>();
        std::thread::Builder::new().name(name).spawn(move || run(conn, &rx))?;
        Ok(Writer { ops: tx })
    }

    /// Runs `f` on the writer connection inside the next group transaction (under a savepoint: all of `f`'s
    /// changes or none). Answers after the group committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    {
        self.submit(false, move |conn| f(conn)).await
    }

    /// Runs `f` alone, outside any transaction; `f` manages its own.
    pub(crate) async fn exclusive<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    {
        self.submit(true, f).await
    }

    async fn submit<T, F>(&self, exclusive: bool, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, DbError>>();
        let run = Box::new(move |conn: Result<&mut rusqlite::Connection, GroupFailed>| {
            let result = match conn {
                Ok(conn) => f(conn),
                Err(e) => Err(e.into()),
            };
            let ok = result.is_ok();
            let answer: Answer = Box::new(move |group: Result<(), GroupFailed>| {
                let _ = tx.send(match (result, group) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(g)) => Err(g.into()),
                    (Ok(v), Ok(())) => Ok(v),
                });
            });
            (ok, answer)
        });
        self.ops.send(Op { exclusive, run }).map_err(|_| DbError::WriterStopped)?;
        rx.await.map_err(|_| DbError::WriterStopped)?
    }
}

/// The writer thread: one group per loop, until every sender is gone.
fn run(mut conn: rusqlite::Connection, rx: &mpsc::Receiver<Op>) {
    let mut next: Option<Op> = None;
    loop {
        let op = match next.take() {
            Some(op) => op,
            None => match rx.recv() {
                Ok(op) => op,
                Err(_) => return,
            },
        };
        if op.exclusive {
            let (_, answer) = guarded(op.run, &mut conn);
            answer(Ok(()));
            continue;
        }
        next = group(&mut conn, op, rx);
    }
}

/// Runs `first` and whatever writes are already waiting in one transaction; returns an exclusive write met
/// on the way (it must run after the group).
fn group(conn: &mut rusqlite::Connection, first: Op, rx: &mpsc::Receiver<Op>) -> Option<Op> {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let (_, answer) = (first.run)(Err(GroupFailed(format!("starting the transaction failed: {e}"))));
        answer(Ok(()));
        return None;
    }
    let mut answers: Vec<Answer> = Vec::new();
    let mut op = first;
    let mut after = None;
    loop {
        if let Err(e) = exec(conn, "SAVEPOINT w") {
            let why = format!("opening a savepoint failed: {e}");
            let (_, answer) = (op.run)(Err(GroupFailed(why.clone())));
            answers.push(answer);
            abort(conn, answers, &why);
            return None;
        }
        let (ok, answer) = guarded(op.run, conn);
        if !ok && conn.is_autocommit() {
            // The failure rolled back the whole transaction (SQLite does so for I/O errors, a full disk and
            // the like): the earlier writes of this group are gone too.
            answer(Ok(()));
            abort(conn, answers, "an error rolled back the transaction it shared");
            return None;
        }
        let undo = if ok { Ok(()) } else { exec(conn, "ROLLBACK TO w") };
        answers.push(answer);
        if let Err(e) = undo.and_then(|()| exec(conn, "RELEASE w")) {
            abort(conn, answers, &format!("closing a savepoint failed: {e}"));
            return None;
        }
        if answers.len() >= MAX_GROUP {
            break;
        }
        match rx.try_recv() {
            Ok(o) if o.exclusive => {
                after = Some(o);
                break;
            }
            Ok(o) => op = o,
            Err(_) => break,
        }
    }
    match exec(conn, "COMMIT") {
        Ok(()) => answers.into_iter().for_each(|a| a(Ok(()))),
        Err(e) => abort(conn, answers, &format!("commit failed: {e}")),
    }
    after
}

/// Runs a write; a write that panics counts as failed (its caller is told the write was lost) and the thread
/// goes on serving the others.
fn guarded(run: Run, conn: &mut rusqlite::Connection) -> (bool, Answer) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(Ok(conn)))) {
        Ok(done) => done,
        Err(_) => {
            tracing::error!("a SQLite write panicked; it was rolled back");
            (false, Box::new(|_| {}))
        }
    }
}

/// Rolls the group back and answers each of its writes with `why`.
fn abort(conn: &rusqlite::Connection, answers: Vec<Answer>, why: &str) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for a in answers {
        a(Err(GroupFailed(why.to_string())));
    }
}

/// Runs one transaction-control statement from the connection's statement cache.
fn exec(conn: &rusqlite::Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (Writer, rusqlite::Connection, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("tlink-writer-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);")
            .unwrap();
        let reader = rusqlite::Connection::open(&path).unwrap();
        (Writer::spawn(conn, "test-writer".into()).unwrap(), reader, dir)
    }

    fn insert(c: &rusqlite::Connection, k: &str, v: i64) -> Result<(), DbError> {
        c.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", rusqlite::params![k, v]).map(|_| ()).map_err(DbError::from)
    }

    /// Many writes at once share commits, yet each is all-or-nothing on its own: a write whose second
    /// statement fails leaves nothing behind and does not disturb the writes grouped with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_stay_independent() {
        let (w, reader, dir) = writer();
        let w = std::sync::Arc::new(w);
        let mut tasks = Vec::new();
        for i in 0..400i64 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                w.write(move |c| {
                    insert(c, &format!("k{i}"), i)?;
                    // Every third write then breaks the primary key: its first insert must vanish too.
                    if i % 3 == 0 { insert(c, &format!("k{i}"), -1) } else { Ok(()) }
                })
                .await
            }));
        }
        let mut failed = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(()) => assert_ne!(i % 3, 0, "write {i} should have failed"),
                Err(e) => {
                    assert_eq!(i % 3, 0, "write {i} failed: {e}");
                    assert!(e.to_string().contains("UNIQUE"), "{e}");
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 134);
        let (n, sum): (i64, i64) =
            reader.query_row("SELECT COUNT(*), SUM(v) FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!(n, 266);
        assert_eq!(sum, (0..400i64).filter(|i| i % 3 != 0).sum::<i64>());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A write is answered only once it is committed: what it reports done, another connection reads.
    #[tokio::test]
    async fn answered_writes_are_visible_to_readers() {
        let (w, reader, dir) = writer();
        for i in 0..50 {
            w.write(move |c| insert(c, &format!("k{i}"), i)).await.unwrap();
            let n: i64 = reader.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
            assert_eq!(n, i + 1);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A write that panics is lost alone: its caller gets an error, and the writer goes on.
    #[tokio::test]
    async fn a_panicking_write_does_not_stop_the_writer() {
        let (w, reader, dir) = writer();
        let lost = w
            .write(|c| -> Result<(), DbError> {
                insert(c, "half", 1)?;
                panic!("a bug in a write");
            })
            .await;
        assert!(matches!(lost, Err(DbError::WriterStopped)), "{lost:?}");
        w.write(|c| insert(c, "after", 2)).await.expect("the writer still writes");
        let keys: Vec<String> = reader
            .prepare("SELECT k FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys, ["after"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// An exclusive write runs outside any transaction, so it may manage its own.
    #[tokio::test]
    async fn exclusive_writes_run_alone() {
        let (w, reader, dir) = writer();
        w.exclusive(|c| {
            assert!(c.is_autocommit());
            let tx = c.transaction().map_err(DbError::from)?;
            tx.execute("INSERT INTO t (k, v) VALUES ('x', 1)", []).map_err(DbError::from)?;
            tx.commit().map_err(DbError::from)
        })
        .await
        .unwrap();
        let n: i64 = reader.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
