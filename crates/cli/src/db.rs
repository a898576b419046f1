//! `tlink backup`, `tlink restore` and `tlink db copy`: a database's contents saved, brought back, or moved
//! to the other engine, over `tlink_store::transfer`. Progress goes to standard error; what was done, with
//! the row counts of both sides, to standard output. Database passwords are never printed.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use tlink_server::Config;
use tlink_store::Db;
use tlink_store::transfer::{self, CopyProgress, TransferError, TransferReport};

/// The commands of this module, flattened into `tlink`'s own.
#[derive(Subcommand)]
pub enum Command {
    /// Write a consistent copy of the SQLite database to a new file; safe while the server runs.
    ///
    /// The copy holds every change committed before it began. It is checked with SQLite's integrity check
    /// and readable by its owner only. An existing file is never replaced. On PostgreSQL this prints the
    /// `pg_dump` commands to use instead.
    Backup(BackupArgs),
    /// Replace the SQLite database's contents with a backup. Stop the server and every worker first.
    ///
    /// The file must be a tlink database that passes SQLite's integrity check and was made by this build
    /// or an older one (its newer migrations are applied afterwards). A database that holds data is only
    /// replaced with --force. On PostgreSQL this prints the `pg_restore` commands to use instead.
    #[command(after_help = "The server must be stopped for a restore: a running server keeps answering from \
                            what it read before, and would write into the restored database.")]
    Restore(RestoreArgs),
    /// Move a database's contents to another database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Args)]
pub struct BackupArgs {
    /// The file to write (it must not exist).
    pub path: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file, as `tlink backup` wrote it.
    pub path: PathBuf,
    /// Replace the database even though it holds data (keep a backup of it first).
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Copy every row from one database into another, empty one (SQLite to PostgreSQL, or back), then count
    /// both sides. Stop the server first.
    ///
    /// The target is migrated first and refused if any table holds a row. Tables are copied in foreign-key
    /// order, 1,000 rows per transaction, from one consistent snapshot of the source. Put URLs with a
    /// password in TLINK_COPY_FROM / TLINK_COPY_TO to keep them out of the process list.
    Copy {
        /// The database to read: `sqlite://path` or `postgres://user@host/db`.
        #[arg(long, env = "TLINK_COPY_FROM", hide_env_values = true)]
        from: String,
        /// The database to fill: `postgres://user@host/db` or `sqlite://path`.
        #[arg(long, env = "TLINK_COPY_TO", hide_env_values = true)]
        to: String,
    },
}

/// Runs one of this module's commands; `backup` and `restore` work on the configured database.
pub async fn run(command: Command, config: &Config) -> anyhow::Result<()> {
    match command {
        Command::Backup(args) => backup(&config.database_url(), &args.path).await,
        Command::Restore(args) => restore(&config.database_url(), &args.path, args.force).await,
        Command::Db { command: DbCommand::Copy { from, to } } => copy(&from, &to).await,
    }
}

/// `url` fit to print: its password hidden, in the user part or in a `password=` parameter.
fn redact(url: &str) -> String {
    hide_password(&tlink_server::redact_url(url), Some("***"))
}

/// `url` without any password at all (the user part's, or a `password=` parameter), to paste into commands
/// that ask for it themselves.
fn without_password(url: &str) -> String {
    let mut out = url.to_string();
    if let (Some(start), Some(at)) = (url.find("://"), url.rfind('@'))
        && at > start
        && let Some((user, _)) = url[start + 3..at].split_once(':')
    {
        out = format!("{}{user}{}", &url[..start + 3], &url[at..]);
    }
    hide_password(&out, None)
}

/// `url` with its `password=` query parameter replaced by `with`, or dropped.
fn hide_password(url: &str, with: Option<&str>) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .filter_map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => with.map(|w| format!("{k}={w}")),
            _ => Some(p.to_string()),
        })
        .collect();
    if params.is_empty() { base.to_string() } else { format!("{base}?{}", params.join("&")) }
}

/// `s` quoted for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens `url`, the `what` database of this command. A SQLite file must exist when `must_exist` (opening
/// would otherwise create an empty one).
async fn open(url: &str, what: &str, must_exist: bool) -> anyhow::Result<Db> {
    let shown = redact(url);
    match tlink_store::db::sqlite_path(url) {
        Some(path) if must_exist && !Path::new(path).is_file() => {
            bail!("the {what} database {shown} does not exist (there is no file {path})")
        }
        Some(_) => {}
        None if is_postgres(url) => {}
        None => bail!("the {what} database URL must start with sqlite:// or postgres://, not {shown}"),
    }
    Db::connect(url, 2).await.with_context(|| format!("opening the {what} database {shown}"))
}

/// Prints each table's rows on both sides.
fn print_counts(report: &TransferReport) -> anyhow::Result<()> {
    let width = report.tables.iter().map(|t| t.table.len()).max().unwrap_or(0).max("table".len());
    outln!("{:<width$}  {:>10}  {:>10}", "table", "source", "target");
    for t in &report.tables {
        let differs = if t.source == t.target { "" } else { "  <- differs" };
        outln!("{:<width$}  {:>10}  {:>10}{differs}", t.table, t.source, t.target);
    }
    Ok(())
}

/// Progress on standard error: a line rewritten in place on a terminal; otherwise a line when a table is
/// done, and one every few seconds in between.
struct Progress {
    terminal: bool,
    last: Instant,
    /// Some rows were written.
    wrote: bool,
    /// A line is being rewritten in place (on a terminal) and is not ended yet.
    open_line: bool,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Progress { terminal: std::io::stderr().is_terminal(), last: Instant::now(), wrote: false, open_line: false }
    }

    fn update(&mut self, p: &CopyProgress<'_>) {
        self.wrote |= p.done > 0;
        let line = format!("[{}/{}] {}: {} / {} rows", p.index, p.tables, p.table, p.done, p.total);
        if p.done == p.total {
            // On a terminal the line rewritten so far is cleared first.
            let clear = if self.terminal { "\r\x1b[2K" } else { "" };
            eprintln!("{clear}{line}");
            self.last = Instant::now();
            self.open_line = false;
        } else if self.terminal {
            eprint!("\r\x1b[2K{line}");
            self.open_line = true;
        } else if self.last.elapsed() >= Self::EVERY {
            eprintln!("{line}");
            self.last = Instant::now();
        }
    }

    /// Ends a line left open by a copy that stopped midway.
    fn end(&mut self) {
        if self.open_line {
            eprintln!();
            self.open_line = false;
        }
    }
}

/// `tlink db copy --from URL --to URL`.
async fn copy(from: &str, to: &str) -> anyhow::Result<()> {
    let (from_shown, to_shown) = (redact(from), redact(to));
    let source = open(from, "source", true).await?;
    let target = open(to, "target", false).await?;
    eprintln!("copying {from_shown} to {to_shown}");
    let started = Instant::now();
    let mut progress = Progress::new();
    let result = transfer::copy(&source, &target, |p| progress.update(p)).await;
    progress.end();
    let report = match result {
        Ok(report) => report,
        Err(TransferError::NotEmpty(table)) => bail!(
            "the target database {to_shown} is not empty (table `{table}` has rows); nothing was copied. \
             Copy into a new, empty database."
        ),
        Err(TransferError::Verify(report)) => {
            print_counts(&report)?;
            bail!("the row counts differ after copying {from_shown} to {to_shown}: {}", TransferError::Verify(report));
        }
        Err(e) => {
            let e = anyhow::Error::new(e).context(format!("copying {from_shown} to {to_shown}"));
            if progress.wrote {
                return Err(e.context(
                    "the target holds the rows copied before the failure: empty it (or create it anew) before \
                     copying again",
                ));
            }
            return Err(e);
        }
    };
    if !report.migrations_applied.is_empty() {
        outln!("migrated the target: {} migration(s) applied", report.migrations_applied.len());
    }
    print_counts(&report)?;
    outln!(
        "verified: {} tables, {} rows, the same count on both sides; copied in {:.1} s",
        report.tables.len(),
        report.rows(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What to run instead of `tlink backup` on PostgreSQL.
fn pg_dump_help(url: &str, path: &Path) -> String {
    let url = shell_quote(&without_password(url));
    let file = shell_quote(&path.display().to_string());
    format!(
        "tlink backup copies SQLite databases; this one is PostgreSQL, whose own tool takes a consistent copy \
         while the server runs:\n\n    pg_dump --format=custom --file={file} {url}\n\n\
         Restore it with:\n\n    pg_restore --clean --if-exists --no-owner --dbname={url} {file}\n    tlink migrate\n\n\
         pg_dump and pg_restore ask for the password, or read it from PGPASSWORD or ~/.pgpass \
         (see docs/operations.md)."
    )
}

/// What to run instead of `tlink restore` on PostgreSQL.
fn pg_restore_help(url: &str, path: &Path) -> String {
    let url = shell_quote(&without_password(url));
    let file = shell_quote(&path.display().to_string());
    format!(
        "tlink restore replaces SQLite databases; this one is PostgreSQL. Stop the server and workers, then \
         restore a `pg_dump --format=custom` file with:\n\n    \
         pg_restore --clean --if-exists --no-owner --dbname={url} {file}\n    tlink migrate\n\n\
         pg_restore asks for the password, or reads it from PGPASSWORD or ~/.pgpass (see docs/operations.md)."
    )
}

/// `tlink backup PATH`.
async fn backup(url: &str, path: &Path) -> anyhow::Result<()> {
    if tlink_store::db::sqlite_path(url).is_none() {
        bail!("{}", pg_dump_help(url, path));
    }
    if path.symlink_metadata().is_ok() {
        bail!("{} exists already: tlink backup writes a new file and never replaces one", path.display());
    }
    let shown = redact(url);
    let db = open(url, "configured", true).await?;
    eprintln!("backing up {shown} to {}", path.display());
    let started = Instant::now();
    let report =
        transfer::backup(&db, path).await.with_context(|| format!("backing up {shown} to {}", path.display()))?;
    outln!(
        "wrote {} ({} bytes, {} rows in {} tables, integrity ok) in {:.1} s",
        report.path.display(),
        report.bytes,
        report.rows(),
        report.tables.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `tlink restore PATH [--force]`.
async fn restore(url: &str, path: &Path, force: bool) -> anyhow::Result<()> {
    if tlink_store::db::sqlite_path(url).is_none() {
        bail!("{}", pg_restore_help(url, path));
    }
    let shown = redact(url);
    let db = open(url, "configured", false).await?;
    eprintln!("restoring {} into {shown}", path.display());
    let report = match transfer::restore(&db, path, force).await {
        Ok(report) => report,
        Err(TransferError::NotEmpty(table)) => bail!(
            "the database {shown} is not empty (table `{table}` has rows), and a restore replaces all of it. \
             Stop the server, keep a copy with `tlink backup`, then run `tlink restore --force {}`.",
            path.display()
        ),
        Err(TransferError::Verify(report)) => {
            print_counts(&report)?;
            bail!("after restoring {}: {}", path.display(), TransferError::Verify(report));
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("restoring {} into {shown}", path.display()))),
    };
    print_counts(&report)?;
    if !report.migrations_applied.is_empty() {
        outln!("applied this build's newer migrations: {:?}", report.migrations_applied);
    }
    outln!(
        "restored {} rows in {} tables from {} into {shown}; every count matches the backup",
        report.rows(),
        report.tables.len(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("postgres://tlink:s3cret@db:5432/tlink"), "postgres://tlink:***@db:5432/tlink");
        assert_eq!(
            redact("postgres://tlink@db/tlink?sslmode=disable&password=s3cret"),
            "postgres://tlink@db/tlink?sslmode=disable&password=***"
        );
        assert_eq!(without_password("postgres://tlink:s3cret@db/tlink"), "postgres://tlink@db/tlink");
        assert_eq!(without_password("postgres://tlink@db/tlink?password=s3cret"), "postgres://tlink@db/tlink");
        assert_eq!(
            without_password("postgres://u:p@db/t?password=x&options=-csearch_path%3Dtl"),
            "postgres://u@db/t?options=-csearch_path%3Dtl"
        );
        assert_eq!(redact("sqlite:///var/lib/tlink/tlink.db"), "sqlite:///var/lib/tlink/tlink.db");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let help = pg_dump_help("postgres://tlink:s3cret@db/tlink", Path::new("/backups/t.dump"));
        assert!(!help.contains("s3cret") && help.contains("pg_dump --format=custom"), "{help}");
    }
}
