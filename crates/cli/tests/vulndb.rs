//! The vulnerability pipeline as a user runs it: `tlink vulndb import` of a zip and of a directory of OSV
//! advisories (idempotent), three real `tlink agent` processes reporting the fixture hosts to a real
//! `tlink serve`, and a Threat Stack-style script on PyPI `mohawk` (Hawk, `ext` = org id, paging by token
//! until null) reading agents, their vulnerabilities and the alerts. Expected findings are those documented
//! in `tests/fixtures/README.md`.
//!
//! The script needs Python with `mohawk` (`.ci/run` installs it); without it the script step is skipped
//! unless `REQUIRE_TEST_PEERS` is set.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, free_port, http};

const PASSWORD: &str = "correct horse battery staple";

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures"))
}

fn run(cmd: &mut Command) -> String {
    let out: Output = cmd.output().expect("run tlink");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn import(env: &Env, path: &Path) -> String {
    let out = run(env.cmd().args(["vulndb", "import"]).arg(path));
    out.lines().find(|l| l.starts_with("imported ")).expect("summary line").to_string()
}

fn zip_dir(dir: &Path, zip: &Path) -> bool {
    let script = "import sys, zipfile, pathlib\n\
        with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
        \x20   for p in sorted(pathlib.Path(sys.argv[1]).glob('*.json')):\n\
        \x20       z.write(p, 'Debian/' + p.name)\n";
    Command::new("python3").args(["-c", script]).arg(dir).arg(zip).status().is_ok_and(|s| s.success())
}

#[test]
fn advisories_imported_and_agents_matched_are_read_by_a_threat_stack_script() {
    let dir = std::env::temp_dir().join(format!("tlink-vulndb-{}-{}", std::process::id(), tlink_store::now_millis()));
    std::fs::create_dir_all(&dir).expect("dir");
    let env = Env { dir: dir.clone() };
    let stdout = run(env
        .cmd()
        .args(["user", "create", "--email", "sec@example.com", "--org", "Sec"])
        .env("TLINK_NEW_USER_PASSWORD", PASSWORD));
    let org = stdout.lines().find_map(|l| l.strip_prefix("created organization ")).expect("org").trim().to_string();
    let addr = free_port();
    let _server = env.serve(addr);
    let login = serde_json::json!({"email": "sec@example.com", "password": PASSWORD});
    let r = http(addr, "POST", "/api/auth/login", &[], Some(&login));
    let bearer = format!("Bearer {}", r.body["data"]["accessToken"].as_str().expect("token"));
    let auth = [("Authorization", bearer.as_str())];
    let enroll = serde_json::json!({"name": "fleet"});
    let r = http(addr, "POST", &format!("/api/orgs/{org}/agent-enrollments"), &auth, Some(&enroll));
    let token = r.body["data"]["token"].as_str().expect("agent token").to_string();
    let r = http(addr, "POST", "/api/users/me/api-keys", &auth, Some(&serde_json::json!({"name": "ts"})));
    let key = r.body["data"]["key"].as_str().expect("key").to_string();
    let user_id = http(addr, "GET", "/api/users/me", &auth, None).body["data"]["id"].as_str().expect("id").to_string();
    let rule = serde_json::json!({"name": "High vulnerabilities", "severity": "HIGH",
        "condition": {"tool": "vulnerability", "field": "severityLevel", "operator": "gte", "value": 4}});
    let r = http(addr, "POST", &format!("/api/orgs/{org}/alert-rules"), &auth, Some(&rule));
    assert_eq!(r.status, 201, "{:?}", r.body);

    // A zip as osv.dev publishes per ecosystem, then the whole directory, then the directory again.
    let osv = fixtures().join("osv");
    let zip = dir.join("Debian.zip");
    assert!(zip_dir(&osv.join("Debian"), &zip), "python3 builds the zip");
    let first = import(&env, &zip);
    assert!(
        first.contains("imported 7 advisories") && first.contains("6 new") && first.contains("1 withdrawn"),
        "{first}"
    );
    let second = import(&env, &osv);
    assert!(second.contains("imported 18 advisories") && second.contains("11 new, 0 updated, 6 unchanged"), "{second}");
    let third = import(&env, &osv);
    assert!(
        third.contains("0 new, 0 updated, 17 unchanged, 1 withdrawn, 0 for other ecosystems, 0 invalid"),
        "{third}"
    );
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"id\": \"X-1\"}").expect("write");
    let out = env.cmd().args(["vulndb", "import"]).arg(&bad).output().expect("import");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped"), "an invalid file is named and skipped");

    // Real agents report the fixture hosts once each.
    for host in ["debian-12", "ubuntu-22.04", "alpine-3.18"] {
        run(env
            .cmd()
            .args(["agent", "--once", "--server", &format!("http://{addr}"), "--root"])
            .arg(fixtures().join("hosts").join(host))
            .env("TLINK_AGENT_TOKEN", &token));
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/tests/clients/ts_inventory_mohawk.py");
    let out = Command::new("python3")
        .arg(script)
        .env("TS_USER_ID", &user_id)
        .env("TS_API_KEY", &key)
        .env("TS_ORGANIZATION_ID", &org)
        .env("TS_HOST", format!("http://{addr}"))
        .output();
    let out = match out {
        Ok(o) if !String::from_utf8_lossy(&o.stderr).contains("No module named 'mohawk'") => o,
        _ => {
            assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "python3 with mohawk is required");
            eprintln!("skipping the Threat Stack script: python3 with mohawk is not installed");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the script prints JSON");

    let expected = |rows: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        rows.iter().map(|(c, p)| (c.to_string(), p.to_string())).collect()
    };
    let by_host = |hostname: &str| -> (String, BTreeSet<(String, String)>) {
        let agent = doc["agents"].as_array().expect("agents").iter().find(|a| a["hostname"] == hostname);
        let agent = agent.unwrap_or_else(|| panic!("{hostname} is listed: {doc}"));
        let cves = agent["cves"].as_array().expect("cves").iter().map(|c| {
            let package = c[1].as_str().unwrap_or_default().split(' ').next().unwrap_or_default().to_string();
            (c[0].as_str().unwrap_or_default().to_string(), package)
        });
        (agent["id"].as_str().unwrap_or_default().to_string(), cves.collect())
    };
    let (debian, found) = by_host("deb12-web01");
    assert_eq!(
        found,
        expected(&[
            ("CVE-2023-5363", "openssl"),
            ("CVE-2023-5678", "openssl"),
            ("CVE-2023-4641", "shadow"),
            ("CVE-2023-50495", "ncurses"),
            ("CVE-2024-0567", "gnutls28"),
        ])
    );
    let (_, found) = by_host("jammy-app02");
    assert_eq!(
        found,
        expected(&[
            ("CVE-2023-5363", "openssl"),
            ("CVE-2023-4016", "procps"),
            ("CVE-2024-21626", "runc"),
            ("CVE-2022-3219", "gnupg2"),
        ])
    );
    let (_, found) = by_host("alpine318-proxy01");
    assert_eq!(
        found,
        expected(&[("CVE-2023-5678", "openssl"), ("CVE-2023-48795", "openssh"), ("CVE-2023-50495", "ncurses")])
    );
    // High and critical findings raised alerts about their agent.
    let alerts = doc["alerts"].as_array().expect("alerts");
    assert!(
        alerts
            .iter()
            .any(|a| a[0].as_str().is_some_and(|t| t.starts_with("CVE-2024-0567 gnutls28")) && a[1] == debian.as_str()),
        "{doc}"
    );
    assert!(alerts.iter().all(|a| a[2] == 1), "severity 1 (HIGH rule): {doc}");
    let _ = std::fs::remove_dir_all(&dir);
}
