//! The `tlink` binary as a user runs it: listing and running tools locally, a closed pipe, the default
//! configuration, and a clear error for a bad target.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

fn tlink() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlink"));
    // Run from an empty directory, so no ./tlink.toml is picked up; no data is written by these commands.
    c.current_dir(std::env::temp_dir());
    c
}

fn run(args: &[&str]) -> Output {
    tlink().args(args).output().expect("running tlink")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn tool_list_names_every_tool_and_its_targets() {
    let out = run(&["tool", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for key in ["dns", "whois", "ip-reputation", "email", "exposure", "ssl", "threat-feed"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{key} "))), "{key} missing:\n{stdout}");
    }
    assert!(stdout.contains("targets: DOMAIN, URL, EMAIL"), "{stdout}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    for args in [["tool", "list"], ["config", "default"]] {
        let mut child =
            tlink().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting tlink");
        // The reader goes away before the first line is written (like `| head -0`).
        drop(child.stdout.take());
        let status = child.wait().expect("tlink exits");
        let mut stderr = String::new();
        child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
        assert!(status.success(), "{args:?}: exit {status:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn config_default_prints_the_documented_defaults() {
    let out = run(&["config", "default"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), include_str!("../../../config.default.toml"));
}

#[test]
fn a_local_exposure_run_finds_a_banner_on_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let _ = s.write_all(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1\r\n");
        }
    });
    let ports = port.to_string();
    let out = run(&["tool", "run", "exposure", "127.0.0.1", "--ports", &ports, "--allow-private", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result["openPorts"], serde_json::json!([port]), "{result}");
    assert!(result["ports"][0]["banner"].as_str().is_some_and(|b| b.starts_with("SSH-2.0-OpenSSH_8.9")), "{result}");

    // Without --allow-private the egress policy refuses loopback, with the reason.
    let out = run(&["tool", "run", "exposure", "127.0.0.1", "--ports", &ports]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("loopback"), "{}", text(&out.stderr));
}

#[test]
fn a_bad_target_or_tool_is_a_clear_error() {
    let out = run(&["tool", "run", "dns", "not a domain!"]);
    assert!(!out.status.success());
    assert!(!text(&out.stderr).is_empty());
    let out = run(&["tool", "run", "nmap", "example.com"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown tool `nmap`"), "{}", text(&out.stderr));
}
