//! `tlink backup`, `tlink restore` and `tlink db copy` as an operator runs them: a backup taken while the server
//! runs, restored into a new data directory and read back over HTTP; refusals (an existing file, a database
//! in use, a file that is not a backup) with their exit status and reasons; a copy between SQLite files read
//! back with the store; a copy into PostgreSQL (when `TLINK_TEST_DATABASE_URL` is set; otherwise skipped,
//! unless `REQUIRE_TEST_PEERS` is set) served by `tlink serve`; and no database password ever printed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, free_port, http};
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("running tlink");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn tlink(env: &Env, args: &[&str]) -> Run {
    run(env.cmd().args(args))
}

fn data_dir(tag: &str) -> Env {
    let dir = std::env::temp_dir().join(format!("tlink-db-{tag}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("a data directory");
    Env { dir }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A user owning the organization "Acme", made with the command line; the organization's id.
fn seed(env: &Env) -> String {
    let mut cmd = env.cmd();
    cmd.args(["user", "create", "--email", "alice@example.com", "--org", "Acme"]);
    cmd.env("TLINK_NEW_USER_PASSWORD", PASSWORD);
    let r = run(&mut cmd);
    assert!(r.ok, "{}", r.all());
    r.stdout.lines().find_map(|l| l.strip_prefix("created organization ")).expect("the organization").trim().into()
}

fn bearer(addr: std::net::SocketAddr) -> String {
    let login = json!({"email": "alice@example.com", "password": PASSWORD});
    let r = http(addr, "POST", "/api/auth/login", &[], Some(&login));
    assert_eq!(r.status, 200, "{:?}", r.body);
    format!("Bearer {}", r.body["data"]["accessToken"].as_str().expect("a token"))
}

/// Creates a DOMAIN asset over HTTP; its id.
fn create_asset(addr: std::net::SocketAddr, org: &str, value: &str) -> String {
    let auth = bearer(addr);
    let body = json!({"type": "DOMAIN", "value": value, "label": "main site — ünïcode"});
    let r = http(addr, "POST", &format!("/api/orgs/{org}/assets"), &[("Authorization", &auth)], Some(&body));
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["data"]["id"].as_str().expect("an id").to_string()
}

/// Reads the asset back over HTTP as alice.
fn assert_asset(addr: std::net::SocketAddr, org: &str, id: &str, value: &str) {
    let auth = bearer(addr);
    let r = http(addr, "GET", &format!("/api/orgs/{org}/assets/{id}"), &[("Authorization", &auth)], None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["value"], value);
    assert_eq!(r.body["data"]["label"], "main site — ünïcode");
}

/// The counts a `table source target` line of the output gives for `table`.
fn counts(stdout: &str, table: &str) -> Option<(u64, u64)> {
    stdout.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(table)).then_some(())?;
        let source = words.next()?.parse().ok()?;
        let target = words.next()?.parse().ok()?;
        Some((source, target))
    })
}

#[test]
fn a_backup_taken_while_the_server_runs_restores_into_a_new_data_directory() {
    let a = data_dir("backup");
    let org = seed(&a);
    let addr = free_port();
    let server = a.serve(addr);
    let asset = create_asset(addr, &org, "example.com");

    // Backed up while the server runs.
    let path = a.dir.join("tlink-backup.db");
    let path_arg = path.to_str().expect("a UTF-8 path");
    let r = tlink(&a, &["backup", path_arg]);
    assert!(r.ok, "{}", r.all());
    assert!(r.stdout.contains("integrity ok"), "{}", r.stdout);
    assert!(path.is_file());
    drop(server);

    // An existing file is never replaced.
    let size = std::fs::metadata(&path).expect("the backup").len();
    let r = tlink(&a, &["backup", path_arg]);
    assert!(!r.ok && r.stderr.contains("exists already"), "{}", r.all());
    assert_eq!(std::fs::metadata(&path).expect("the backup").len(), size);

    // Restored into a new data directory, and served from there.
    let b = data_dir("restore");
    let r = tlink(&b, &["restore", path_arg]);
    assert!(r.ok, "{}", r.all());
    assert_eq!(counts(&r.stdout, "assets"), Some((1, 1)), "{}", r.stdout);
    assert_eq!(counts(&r.stdout, "users"), Some((1, 1)), "{}", r.stdout);
    assert!(r.stdout.contains("every count matches the backup"), "{}", r.stdout);
    let addr = free_port();
    let server = b.serve(addr);
    assert_asset(addr, &org, &asset, "example.com");
    drop(server);

    // The database now holds data: replaced only with --force.
    let r = tlink(&b, &["restore", path_arg]);
    assert!(!r.ok && r.stderr.contains("is not empty") && r.stderr.contains("--force"), "{}", r.all());
    let r = tlink(&b, &["restore", "--force", path_arg]);
    assert!(r.ok, "{}", r.all());

    // A file that is not a backup is refused with the reason, and the database is left alone.
    let junk = b.dir.join("junk.db");
    std::fs::write(&junk, "not a database\n".repeat(500)).expect("junk");
    let r = tlink(&b, &["restore", "--force", junk.to_str().expect("a UTF-8 path")]);
    assert!(!r.ok && r.stderr.contains("not a readable SQLite database"), "{}", r.all());
    let addr = free_port();
    let server = b.serve(addr);
    assert_asset(addr, &org, &asset, "example.com");
    drop(server);

    // The help says the server must be stopped.
    let r = tlink(&b, &["restore", "--help"]);
    assert!(r.ok && r.stdout.contains("server must be stopped"), "{}", r.all());
    let _ = std::fs::remove_dir_all(&a.dir);
    let _ = std::fs::remove_dir_all(&b.dir);
}

#[test]
fn postgres_databases_are_pointed_to_pg_dump_without_their_password() {
    let env = data_dir("pg-help");
    let url = "postgres://tlink:hunter2@db.invalid:5432/tlink";
    let r = run(env.cmd().args(["backup", "/backups/tlink.dump"]).env("TLINK_DATABASE_URL", url));
    assert!(!r.ok, "{}", r.all());
    assert!(r.stderr.contains("pg_dump --format=custom --file='/backups/tlink.dump'"), "{}", r.stderr);
    assert!(r.stderr.contains("postgres://tlink@db.invalid:5432/tlink"), "{}", r.stderr);
    let r2 = run(env.cmd().args(["restore", "/backups/tlink.dump"]).env("TLINK_DATABASE_URL", url));
    assert!(!r2.ok && r2.stderr.contains("pg_restore --clean --if-exists"), "{}", r2.all());
    for out in [r.all(), r2.all()] {
        assert!(!out.contains("hunter2"), "a password was printed: {out}");
    }
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn a_copy_between_sqlite_files_is_verified_and_never_into_a_full_target() {
    let a = data_dir("copy");
    seed(&a);
    let from = sqlite_url(&a.dir.join("tlink.db"));
    let copy = a.dir.join("copy.db");
    let to = sqlite_url(&copy);

    let r = tlink(&a, &["db", "copy", "--from", &from, "--to", &to]);
    assert!(r.ok, "{}", r.all());
    assert!(r.stderr.contains("users: 1 / 1 rows"), "progress per table: {}", r.stderr);
    assert!(r.stderr.contains("assets: 0 / 0 rows"), "{}", r.stderr);
    assert_eq!(counts(&r.stdout, "users"), Some((1, 1)), "{}", r.stdout);
    assert_eq!(counts(&r.stdout, "memberships"), Some((1, 1)), "{}", r.stdout);
    assert!(r.stdout.contains("verified: ") && r.stdout.contains("the same count on both sides"), "{}", r.stdout);

    // The copy is a working store.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let found = runtime.block_on(async {
        let store = tlink_store::Store::connect(&to, 1).await.expect("the copy opens");
        store.user_by_email("alice@example.com").await.expect("reads")
    });
    assert!(found.is_some(), "alice was copied");

    // Never into a database that holds rows: nothing is written. (The URLs given in the environment this time,
    // as the documentation suggests for URLs with a password.)
    let r = run(a.cmd().args(["db", "copy"]).env("TLINK_COPY_FROM", &from).env("TLINK_COPY_TO", &to));
    assert!(!r.ok && r.stderr.contains("is not empty") && r.stderr.contains("nothing was copied"), "{}", r.all());

    // A source that does not exist is not created.
    let missing = a.dir.join("missing.db");
    let r = tlink(&a, &["db", "copy", "--from", &sqlite_url(&missing), "--to", &sqlite_url(&a.dir.join("x.db"))]);
    assert!(!r.ok && r.stderr.contains("does not exist"), "{}", r.all());
    assert!(!missing.exists());

    // A target that cannot be reached is named without its password.
    let r = tlink(&a, &["db", "copy", "--from", &from, "--to", "postgres://tlink:hunter2@127.0.0.1:1/tlink"]);
    assert!(!r.ok && r.stderr.contains("postgres://tlink:***@127.0.0.1:1/tlink"), "{}", r.all());
    let r2 = tlink(&a, &["db", "copy", "--from", &from, "--to", "postgres://tlink@127.0.0.1:1/tlink?password=hunter2"]);
    assert!(!r2.ok, "{}", r2.all());
    for out in [r.all(), r2.all()] {
        assert!(!out.contains("hunter2"), "a password was printed: {out}");
    }
    let _ = std::fs::remove_dir_all(&a.dir);
}

/// `url` with its search path set to `schema`, as a URL parameter.
fn in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// A configuration file in `env`'s directory (which `tlink` reads from there) naming `url` as the database.
fn use_database(env: &Env, url: &str) -> PathBuf {
    let path = env.dir.join("tlink.toml");
    let quoted = url.replace('\\', "\\\\").replace('"', "\\\"");
    std::fs::write(&path, format!("database_url = \"{quoted}\"\n")).expect("tlink.toml");
    path
}

#[test]
fn a_copy_into_postgres_is_served_by_tlink() {
    let Ok(base) = std::env::var("TLINK_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("REQUIRE_TEST_PEERS").is_none(),
            "TLINK_TEST_DATABASE_URL must name a PostgreSQL database"
        );
        return;
    };
    let schema = format!("cli_{}", uuid::Uuid::now_v7().simple());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let db = tlink_store::Db::connect(&base, 1).await.expect("a PostgreSQL URL");
        db.query_dynamic(&format!("CREATE SCHEMA {schema}"), &[]).await.expect("a fresh schema");
    });
    let target = in_schema(&base, &schema);

    let a = data_dir("to-pg");
    let org = seed(&a);
    let addr = free_port();
    let server = a.serve(addr);
    let asset = create_asset(addr, &org, "example.org");
    drop(server);

    let from = sqlite_url(&a.dir.join("tlink.db"));
    let r = tlink(&a, &["db", "copy", "--from", &from, "--to", &target]);
    assert!(r.ok, "{}", r.all());
    assert!(r.stderr.contains("users: 1 / 1 rows") && r.stderr.contains("assets: 1 / 1 rows"), "{}", r.stderr);
    assert_eq!(counts(&r.stdout, "assets"), Some((1, 1)), "{}", r.stdout);
    assert!(r.stdout.contains("migrated the target") && r.stdout.contains("verified: "), "{}", r.stdout);
    // The test database's password (if its URL has one) shows nowhere.
    if let Some(password) = base.split_once("://").and_then(|(_, rest)| {
        let creds = rest.rsplit_once('@')?.0;
        creds.split_once(':').map(|(_, p)| p.to_string())
    }) {
        assert!(!r.all().contains(&format!(":{password}@")), "the password was printed");
    }

    let r = tlink(&a, &["db", "copy", "--from", &from, "--to", &target]);
    assert!(!r.ok && r.stderr.contains("is not empty"), "{}", r.all());

    // Served from PostgreSQL: the same user signs in and reads the same asset.
    let b = data_dir("served-from-pg");
    use_database(&b, &target);
    let addr = free_port();
    let server = b.serve(addr);
    assert_asset(addr, &org, &asset, "example.org");
    drop(server);
    let _ = std::fs::remove_dir_all(&a.dir);
    let _ = std::fs::remove_dir_all(&b.dir);
}
