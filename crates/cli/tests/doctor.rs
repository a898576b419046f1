//! `tlink doctor` and `tlink health` as an operator runs them: a fresh SQLite data directory is ready; an
//! unreachable PostgreSQL, Redis or SMTP relay and a listen address already taken fail the run without ever
//! printing a password; a resolver that does not answer is only a warning; and `health` answers for a running
//! `tlink serve` and fails, quickly, for a closed port.
//!
//! Every run asks a DNS stand-in on loopback (or a closed port), never the network. The real Redis at
//! 127.0.0.1:6379 (CI starts it) is used when it is running; without it that test is skipped unless
//! `REQUIRE_TEST_PEERS` is set.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Env, free_port};

const REDIS: &str = "127.0.0.1:6379";

/// A fresh data directory, and the `tlink` commands that use it.
fn data_dir(name: &str) -> Env {
    let dir =
        std::env::temp_dir().join(format!("tlink-doctor-{name}-{}-{}", std::process::id(), tlink_store::now_millis()));
    std::fs::create_dir_all(&dir).expect("a data directory");
    Env { dir }
}

/// `tlink doctor` with these variables (and a resolver that answers) and arguments: its exit code and its
/// whole output, standard output then standard error.
fn doctor(env: &Env, vars: &[(&str, String)], args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = env.cmd();
    cmd.env("TLINK_TOOLS__RESOLVERS", format!("[\"{}\"]", dns_stub()));
    for (key, value) in vars {
        cmd.env(key, value);
    }
    let out = cmd.arg("doctor").args(args).output().expect("running tlink doctor");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// The line of `check` with `status` (`ok`, `warn`, `FAIL`), if the output has one.
fn line<'a>(out: &'a str, status: &str, check: &str) -> Option<&'a str> {
    out.lines().find(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some(status) && words.next() == Some(check)
    })
}

/// A DNS server on a loopback UDP port that answers every question at once: 192.0.2.1 for an A question,
/// no record for any other.
fn dns_stub() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let addr = socket.local_addr().expect("its address");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if let Some(reply) = dns_reply(&buf[..n]) {
                let _ = socket.send_to(&reply, peer);
            }
        }
    });
    addr
}

/// The reply to a standard query (RFC 1035 §4.1): its id and question echoed, NOERROR, and one A record when
/// the question is for one.
fn dns_reply(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question's name: labels up to the empty one; then its type and class.
    let mut end = 12;
    loop {
        let len = usize::from(*query.get(end)?);
        end += 1 + len;
        if len == 0 {
            break;
        }
    }
    let question = query.get(12..end + 4)?;
    let is_a = query.get(end..end + 2)? == [0, 1];
    let mut reply = query[..2].to_vec();
    reply.push(0x80 | (query[2] & 0x01)); // a response; recursion desired, as asked
    reply.push(0x80); // recursion available, NOERROR
    reply.extend_from_slice(&[0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if is_a {
        // The question's name (a pointer to offset 12), A, IN, TTL 60, 192.0.2.1.
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    }
    Some(reply)
}

#[test]
fn a_fresh_sqlite_data_directory_is_ready_and_left_untouched() {
    let env = data_dir("fresh");
    let listen = free_port();
    let vars = [("TLINK_LISTEN", listen.to_string())];

    let (code, out) = doctor(&env, &vars, &[]);
    assert_eq!(code, Some(0), "{out}");
    let database = line(&out, "ok", "database").unwrap_or_else(|| panic!("an ok database line:\n{out}"));
    assert!(database.contains("does not exist yet"), "{out}");
    assert!(line(&out, "ok", "migrations").is_some(), "{out}");
    assert!(line(&out, "ok", "jwt_secret").is_some(), "{out}");
    assert!(line(&out, "ok", "dns").is_some_and(|l| l.contains("192.0.2.1")), "{out}");
    assert!(line(&out, "ok", "listen").is_some_and(|l| l.contains(&listen.to_string())), "{out}");
    assert!(line(&out, "ok", "egress").is_some(), "{out}");
    assert!(out.contains(" 0 FAIL"), "{out}");
    // The secrets the environment sets are counted, never shown.
    assert!(!out.contains("agent-test-secret"), "{out}");
    assert!(!out.contains("agent-sealing-key"), "{out}");
    // Nothing was created: no database, no generated secret, no probe file left behind.
    let left: Vec<_> = std::fs::read_dir(&env.dir).expect("the data directory").collect();
    assert!(left.is_empty(), "doctor wrote {left:?}");

    // Once migrated, the database answers and every migration of this build is applied.
    let migrate = env.cmd().arg("migrate").output().expect("tlink migrate");
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (code, out) = doctor(&env, &vars, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(line(&out, "ok", "database").is_some_and(|l| l.contains("SQLite")), "{out}");
    assert!(line(&out, "ok", "migrations").is_some_and(|l| l.contains("all ") && l.contains(" applied")), "{out}");
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn an_unreachable_postgresql_fails_without_showing_its_password() {
    let env = data_dir("postgres");
    let password = "pg-doctor-secret-0123";
    let url = format!("postgres://tlink:{password}@127.0.0.1:{}/tlink", free_port().port());
    let started = Instant::now();
    let (code, out) = doctor(&env, &[("TLINK_DATABASE_URL", url)], &["--skip-listen"]);
    assert_eq!(code, Some(1), "{out}");
    let database = line(&out, "FAIL", "database").unwrap_or_else(|| panic!("a FAIL database line:\n{out}"));
    assert!(database.contains("postgres://tlink:***@127.0.0.1:"), "{out}");
    assert!(line(&out, "warn", "migrations").is_some(), "{out}");
    assert!(!out.contains(password), "the password was printed:\n{out}");
    // The other checks ran all the same.
    assert!(line(&out, "ok", "dns").is_some(), "{out}");
    assert!(line(&out, "ok", "listen").is_some_and(|l| l.contains("--skip-listen")), "{out}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn a_redis_on_a_closed_port_fails_without_showing_its_password() {
    let env = data_dir("redis-closed");
    let password = "redis-doctor-secret-0123";
    let url = format!("redis://:{password}@127.0.0.1:{}/0", free_port().port());
    let (code, out) = doctor(&env, &[("TLINK_REDIS_URL", url)], &["--skip-listen"]);
    assert_eq!(code, Some(1), "{out}");
    let redis = line(&out, "FAIL", "redis").unwrap_or_else(|| panic!("a FAIL redis line:\n{out}"));
    assert!(redis.contains("redis://:***@127.0.0.1:"), "{out}");
    assert!(!out.contains(password), "the password was printed:\n{out}");
    assert!(line(&out, "ok", "database").is_some(), "{out}");
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn a_running_redis_answers_ping() {
    let up = TcpStream::connect_timeout(&REDIS.parse().expect("addr"), Duration::from_secs(1)).is_ok();
    if !up {
        assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "Redis must be running on {REDIS}");
        eprintln!("Redis is not running on {REDIS}: skipping");
        return;
    }
    let env = data_dir("redis");
    let (code, out) = doctor(&env, &[("TLINK_REDIS_URL", format!("redis://{REDIS}/0"))], &["--skip-listen"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(line(&out, "ok", "redis").is_some_and(|l| l.contains("PONG")), "{out}");
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn an_smtp_relay_on_a_closed_port_fails() {
    let env = data_dir("smtp");
    let vars = [
        ("TLINK_SMTP_HOST", "127.0.0.1".to_string()),
        ("TLINK_SMTP_PORT", free_port().port().to_string()),
        ("TLINK_SMTP_SECURITY", "none".to_string()),
        ("TLINK_SMTP_FROM", "tlink <alerts@example.com>".to_string()),
        ("TLINK_SMTP_USERNAME", "alerts".to_string()),
        ("TLINK_SMTP_PASSWORD", "smtp-doctor-secret-0123".to_string()),
    ];
    let (code, out) = doctor(&env, &vars, &["--skip-listen"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(line(&out, "FAIL", "smtp").is_some_and(|l| l.contains("127.0.0.1:")), "{out}");
    assert!(!out.contains("smtp-doctor-secret-0123"), "{out}");
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn a_listen_address_in_use_fails_unless_skipped() {
    let env = data_dir("listen");
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address");
    let vars = [("TLINK_LISTEN", addr.to_string())];
    let (code, out) = doctor(&env, &vars, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(line(&out, "FAIL", "listen").is_some_and(|l| l.contains(&addr.to_string())), "{out}");
    let (code, out) = doctor(&env, &vars, &["--skip-listen"]);
    assert_eq!(code, Some(0), "{out}");
    drop(taken);
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn a_resolver_that_does_not_answer_is_a_warning() {
    let env = data_dir("dns");
    // A closed UDP port on loopback: the question is refused or never answered.
    let closed = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("a UDP port");
    let vars = [("TLINK_TOOLS__RESOLVERS", format!("[\"{closed}\"]"))];
    let (code, out) = doctor(&env, &vars, &["--skip-listen"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(line(&out, "warn", "dns").is_some_and(|l| l.contains(&closed.to_string())), "{out}");
    let _ = std::fs::remove_dir_all(&env.dir);
}

#[test]
fn health_answers_for_a_running_server_and_fails_for_a_closed_port() {
    let env = data_dir("health");
    let addr = free_port();
    let server = env.serve(addr);

    let out = env.cmd().args(["health", "--url", &format!("http://{addr}")]).output().expect("tlink health");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("ok") && stdout.contains("/readyz"), "{stdout}");

    // Without --url: the configured listen address.
    let out = env.cmd().env("TLINK_LISTEN", addr.to_string()).arg("health").output().expect("tlink health");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    drop(server);
    let closed = free_port();
    let started = Instant::now();
    let out = env.cmd().args(["health", "--url", &format!("http://{closed}")]).output().expect("tlink health");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&closed.to_string()));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let _ = std::fs::remove_dir_all(&env.dir);
}
