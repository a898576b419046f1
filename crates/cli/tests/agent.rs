//! A real `tlink agent` reporting a fixture host to a real `tlink serve` on loopback: the inventory arrives,
//! changes are re-sent, the agent's token cannot read anything, the agent rides out a server restart, and
//! an agent that stops reporting turns offline — seen through `/api` and, with Hawk, through `/v2/agents`.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, Server, free_port, http};
use tlink_domain::hawk::{self, Artifacts};

const PASSWORD: &str = "correct horse battery staple";

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
    std::fs::write(p, text).expect("fixture");
}

const DPKG: &str = "Package: openssl\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\n\n\
Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n\n\
Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n";

fn fixture_host(root: &Path) {
    write(
        root,
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n",
    );
    write(root, "etc/machine-id", "5f1c0ffee0000000000000000000abcd\n");
    write(root, "proc/sys/kernel/hostname", "web-1\n");
    write(root, "proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
    write(root, "var/lib/dpkg/status", DPKG);
    write(
        root,
        "proc/net/tcp",
        "  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A 0 0 0\n   1: 0100007F:1F90 00000000:0000 0A 0 0 0\n",
    );
    write(
        root,
        "proc/net/fib_trie",
        "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.0.7\n        /32 host LOCAL\n     |-- 203.0.113.5\n        /32 host LOCAL\n",
    );
    write(root, "proc/net/if_inet6", "fe800000000000000000000000000001 02 40 20 80 eth0\n");
}

/// Polls `check` until it holds (at most 20 s).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_real_agent_reports_its_host_and_goes_offline_when_it_stops() {
    let dir = std::env::temp_dir().join(format!("tlink-agent-{}-{}", std::process::id(), tlink_store::now_millis()));
    std::fs::create_dir_all(&dir).expect("dir");
    let env = Env { dir: dir.clone() };
    let root = dir.join("host");
    fixture_host(&root);

    let out = env
        .cmd()
        .args(["user", "create", "--email", "ops@example.com", "--org", "Ops"])
        .env("TLINK_NEW_USER_PASSWORD", PASSWORD)
        .output()
        .expect("user create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let org = stdout.lines().find_map(|l| l.strip_prefix("created organization ")).expect("org").trim().to_string();

    let addr = free_port();
    let mut server = env.serve(addr);
    let login = serde_json::json!({"email": "ops@example.com", "password": PASSWORD});
    let r = http(addr, "POST", "/api/auth/login", &[], Some(&login));
    let bearer = format!("Bearer {}", r.body["data"]["accessToken"].as_str().expect("token"));
    let auth = [("Authorization", bearer.as_str())];
    let r = http(
        addr,
        "POST",
        &format!("/api/orgs/{org}/agent-enrollments"),
        &auth,
        Some(&serde_json::json!({"name": "web"})),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["data"]["token"].as_str().expect("agent token").to_string();
    let r = http(addr, "POST", "/api/users/me/api-keys", &auth, Some(&serde_json::json!({"name": "ts"})));
    let key = r.body["data"]["key"].as_str().expect("key").to_string();
    let user_id = http(addr, "GET", "/api/users/me", &auth, None).body["data"]["id"].as_str().expect("id").to_string();

    let _agent = Server(
        env.cmd()
            .args([
                "agent",
                "--server",
                &format!("http://{addr}"),
                "--interval-secs",
                "1",
                "--tag",
                "env=prod",
                "--root",
            ])
            .arg(&root)
            .env("TLINK_AGENT_TOKEN", &token)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tlink agent"),
    );

    // The inventory arrives.
    let agents = format!("/api/orgs/{org}/agents");
    eventually("the agent's first report", || {
        http(addr, "GET", &agents, &auth, None).body["data"].as_array().is_some_and(|a| a.len() == 1)
    });
    let id = http(addr, "GET", &agents, &auth, None).body["data"][0]["id"].as_str().expect("agent id").to_string();
    let detail = |addr| http(addr, "GET", &format!("{agents}/{id}"), &auth, None).body["data"].clone();
    eventually("the inventory", || detail(addr)["packages"].as_array().is_some_and(|p| p.len() == 3));
    let a = detail(addr);
    assert_eq!(a["hostname"], "web-1");
    assert_eq!(a["instanceId"], "5f1c0ffee0000000000000000000abcd");
    assert_eq!(a["osVersion"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(a["kernel"], "6.1.0-18-amd64");
    assert_eq!(a["status"], "online");
    assert_eq!(
        a["ipAddresses"],
        serde_json::json!({"private": ["10.0.0.7"], "link_local": ["fe80::1"], "public": ["203.0.113.5"]})
    );
    assert_eq!(a["ports"].as_array().map(Vec::len), Some(2));
    assert!(
        a["packages"].as_array().expect("packages").iter().any(|p| p["name"] == "libssl3" && p["source"] == "openssl")
    );

    // A change in the inventory is sent again.
    write(
        &root,
        "var/lib/dpkg/status",
        &format!("{DPKG}\nPackage: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u5\n"),
    );
    eventually("the changed inventory", || detail(addr)["packages"].as_array().is_some_and(|p| p.len() == 4));

    // The agent's token reports and nothing else.
    let r = http(addr, "GET", &agents, &[("X-Agent-Token", &token)], None);
    assert_eq!(r.status, 401, "{:?}", r.body);

    // Threat Stack's view, with Hawk.
    let v2 = |path: &str| {
        let ts = (tlink_store::now_millis() / 1000).to_string();
        let nonce = uuid::Uuid::now_v7().simple().to_string();
        let a = Artifacts {
            method: "GET",
            resource: path,
            host: "127.0.0.1",
            port: addr.port(),
            ts: &ts,
            nonce: &nonce[20..],
            hash: None,
            ext: Some(&org),
            app: None,
            dlg: None,
        };
        let h = hawk::client_header(&user_id, key.as_bytes(), &a).expect("header");
        http(addr, "GET", path, &[("Authorization", &h)], None)
    };
    let r = v2("/v2/agents?status=online");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["agents"][0]["id"], id.as_str());
    assert_eq!(r.body["agents"][0]["agentType"], "tlink");
    assert!(r.body["token"].is_null());
    let one = v2(&format!("/v2/agents/{id}"));
    assert_eq!(one.body["hostname"], "web-1");
    assert_eq!(one.body["tags"], serde_json::json!([{"source": "agent", "key": "env", "value": "prod"}]));

    // A server restart: the agent keeps trying and reports again.
    drop(server);
    std::thread::sleep(Duration::from_millis(1500));
    server = env.serve(addr);
    let before = detail(addr)["lastReportedAt"].as_str().expect("time").to_string();
    eventually("a report after the restart", || {
        detail(addr)["lastReportedAt"].as_str().is_some_and(|t| t > before.as_str())
    });

    // An agent that stops reporting turns offline.
    drop(_agent);
    eventually("the agent to go offline", || {
        v2("/v2/agents?status=offline").body["agents"].as_array().is_some_and(|a| a.len() == 1)
    });
    assert_eq!(v2("/v2/agents?status=online").body["agents"].as_array().map(Vec::len), Some(0));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
