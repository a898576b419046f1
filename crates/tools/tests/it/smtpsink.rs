//! An aiosmtpd SMTP server on loopback for tests (shared by the tools and the server test suites).
//!
//! `SmtpSink::start()` answers `None` (after saying so) when Python's aiosmtpd is not installed, unless
//! `REQUIRE_TEST_PEERS` is set (CI installs it), in which case it panics: a missing peer must not turn into a
//! silently skipped test there.

use std::io::{BufRead, BufReader as StdBufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What aiosmtpd prints after each message.
pub const END_MESSAGE: &str = "------------ END MESSAGE ------------";

/// An aiosmtpd server on a free loopback port, run with a handler that prints the envelope and then the message
/// (aiosmtpd's `Debugging`); killed when dropped.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    out: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

const CAPTURE_HANDLER: &str = r#"
from aiosmtpd.handlers import Debugging

class Capture(Debugging):
    async def handle_DATA(self, server, session, envelope):
        print("ENVELOPE FROM:", envelope.mail_from, file=self.stream)
        for rcpt in envelope.rcpt_tos:
            print("ENVELOPE TO:", rcpt, file=self.stream)
        return await super().handle_DATA(server, session, envelope)
"#;

impl SmtpSink {
    /// `None` (and a note) when aiosmtpd is not installed (`pip install aiosmtpd`).
    pub fn start() -> Option<SmtpSink> {
        let available = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "aiosmtpd is required (pip install aiosmtpd)");
            eprintln!("SKIPPED: python3 with aiosmtpd is not available here (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("tlink_capture.py"), CAPTURE_HANDLER).expect("writing the handler");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut child = Command::new("python3")
            .args(["-u", "-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "tlink_capture.Capture"])
            .env("PYTHONPATH", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting aiosmtpd");
        let out: Arc<Mutex<String>> = Arc::default();
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            for line in StdBufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut out = sink.lock();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let sink = SmtpSink { child, port, out, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start listening on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(sink)
    }

    /// The output once `n` messages have been printed.
    pub async fn wait_for_messages(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.out.lock().clone();
            if out.matches(END_MESSAGE).count() >= n {
                return out;
            }
            assert!(Instant::now() < deadline, "{n} message(s) not received; output so far:\n{out}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
