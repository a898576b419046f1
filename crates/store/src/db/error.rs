//! The one error type of the storage crate, shared by both engines and every resource module.
//!
//! It lives apart from the engines so that each of them, and SQLite's writer thread, can produce it without
//! depending on the handle that dispatches between them.

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
    /// A stored name (a plan, a role) is not one this build knows.
    #[error("stored {what} `{value}` is not one this build knows")]
    Unknown { what: &'static str, value: String },
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
    /// Whether the database could not be reached — down, restarting, refusing or cutting connections — as
    /// opposed to refusing this statement: the same request may succeed once it is back (a 503, not a 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Postgres(e) => postgres_unavailable(e),
            DbError::Pool(deadpool_postgres::PoolError::Backend(e)) => postgres_unavailable(e),
            DbError::Pool(deadpool_postgres::PoolError::Timeout(_) | deadpool_postgres::PoolError::Closed) => true,
            _ => false,
        }
    }
}

/// A lost or refused connection (I/O, closed), or the server's answer that it is shutting down, starting up
/// or out of connection slots (SQLSTATE class 08, 57P01–57P03, 53300).
fn postgres_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}
