//! Two `tlink serve` processes behind one Redis enforce each limit together: a credential's per-minute
//! limit, Hawk nonces and the IP lock-out are shared, as they are when several nodes sit behind one address.
//! Needs Redis on 127.0.0.1:6379 (CI starts it); skipped without it unless `REQUIRE_TEST_PEERS` is set.

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port, http};

use tlink_domain::hawk::{self, Artifacts};

const REDIS: &str = "127.0.0.1:6379";

fn redis_up() -> bool {
    let up = TcpStream::connect_timeout(&REDIS.parse().expect("addr"), Duration::from_secs(1)).is_ok();
    if !up {
        assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "Redis must be running on {REDIS}");
        eprintln!("Redis is not running on {REDIS}: skipping");
    }
    up
}

#[test]
fn two_processes_behind_one_redis_share_every_limit() {
    if !redis_up() {
        return;
    }
    let dir = tempfile_dir();
    let prefix = format!("tlink-test-{}:", std::process::id());
    let env = |c: &mut Command| {
        c.current_dir(&dir)
            .env("TLINK_DATA_DIR", &dir)
            .env("TLINK_JWT_SECRET", "shared-test-secret-0123456789-abcdefghij")
            .env("TLINK_SECRETS_KEY", "shared-sealing-key-0123456789-abcdefghij")
            .env("TLINK_REDIS_URL", format!("redis://{REDIS}/0"))
            .env("TLINK_LIMITS__REDIS_PREFIX", &prefix)
            .env("TLINK_LIMITS__IP_PER_MINUTE", "300")
            .env("TLINK_MONITORING__ENABLED", "false")
            // As behind one TLS-terminating proxy: clients sign the public host and port.
            .env("TLINK_HAWK__HOST", "api.example.com")
            .env("TLINK_HAWK__PORT", "443")
            .env("TLINK_LOG_LEVEL", "warn");
    };
    let mut create = Command::new(env!("CARGO_BIN_EXE_tlink"));
    env(&mut create);
    let out = create
        .args(["user", "create", "--email", "ops@example.com", "--org", "Ops"])
        .env("TLINK_NEW_USER_PASSWORD", "correct horse battery staple")
        .output()
        .expect("tlink user create");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let org = stdout.lines().find_map(|l| l.strip_prefix("created organization ")).expect("org id").trim().to_string();

    let addrs = [free_port(), free_port()];
    let _servers: Vec<Server> = addrs
        .iter()
        .map(|addr| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_tlink"));
            env(&mut c);
            c.args(["serve", "--no-worker", "--listen", &addr.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
            Server(c.spawn().expect("tlink serve"))
        })
        .collect();
    let started = Instant::now();
    for addr in addrs {
        while TcpStream::connect(addr).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "server on {addr} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // A FREE organization's API key: 30 a minute across both processes together.
    let login = serde_json::json!({"email": "ops@example.com", "password": "correct horse battery staple"});
    let r = http(addrs[0], "POST", "/api/auth/login", &[], Some(&login));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let bearer = format!("Bearer {}", r.body["data"]["accessToken"].as_str().expect("token"));
    let r = http(
        addrs[1],
        "POST",
        "/api/users/me/api-keys",
        &[("Authorization", &bearer)],
        Some(&serde_json::json!({"name": "ci"})),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let key = r.body["data"]["key"].as_str().expect("key").to_string();
    let path = format!("/api/orgs/{org}/assets");
    let mut allowed = 0;
    for i in 0..40 {
        let r = http(addrs[i % 2], "GET", &path, &[("X-API-Key", &key)], None);
        match r.status {
            200 => allowed += 1,
            429 => assert!(r.header("retry-after").is_some(), "429 without Retry-After"),
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!(allowed, 30, "two processes together allow exactly the plan's limit");

    // A Hawk nonce used on one process is refused on the other.
    let user_id = {
        let r = http(addrs[0], "GET", "/api/users/me", &[("Authorization", &bearer)], None);
        r.body["data"]["id"].as_str().expect("user id").to_string()
    };
    let ts = (tlink_store::now_millis() / 1000).to_string();
    let header = {
        let a = Artifacts {
            method: "GET",
            resource: "/help/hawk/self-test",
            host: "api.example.com",
            port: 443,
            ts: &ts,
            nonce: "shared1",
            hash: None,
            ext: Some(&org),
            app: None,
            dlg: None,
        };
        hawk::client_header(&user_id, key.as_bytes(), &a).expect("header")
    };
    let first = http(addrs[0], "GET", "/help/hawk/self-test", &[("Authorization", &header)], None);
    // The key's minute is used up, so the self-test itself is rate limited; the nonce check comes first.
    assert!(first.status == 200 || first.status == 429, "{} {:?}", first.status, first.body);
    let again = http(addrs[1], "GET", "/help/hawk/self-test", &[("Authorization", &header)], None);
    assert_eq!(again.status, 401, "{:?}", again.body);
    assert!(again.header("www-authenticate").unwrap_or_default().contains("Invalid nonce"), "{}", again.head);

    // The IP lock-out: once one process locks the address, the other refuses it too.
    let mut locked = false;
    for _ in 0..400 {
        let r = http(addrs[0], "GET", "/api/users/me", &[], None);
        if r.status == 429 {
            locked = true;
            break;
        }
    }
    assert!(locked, "the IP limit (300/min) was reached");
    // The other process refuses the address as soon as the published lock-out reaches it, or when it asks
    // Redis next: until then it may spend what it had reserved for the address, at most
    // `limits.redis_lease_max` (32) units, usable for one second.
    let mut spent = 0;
    let r = loop {
        let r = http(addrs[1], "GET", "/api/users/me", &[], None);
        if r.status == 429 {
            break r;
        }
        assert_eq!(r.status, 401, "{:?}", r.body);
        spent += 1;
        assert!(spent <= 32, "the other process honours the lock-out beyond its reservation: {spent} more let through");
    };
    let wait: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!(wait > 800, "15-minute lock-out, {wait} s left");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tlink-shared-{}-{}", std::process::id(), tlink_store::now_millis()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
