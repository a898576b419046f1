//! Connect-scan throughput: every TCP port of 127.0.0.1 through the exposure tool.
//!
//! `cargo run --release -p tlink-tools --example scan_bench [-- PORTS [CONCURRENCY]]`
//! (defaults: `all` and the configured concurrency). Prints the rate of the connect scan and the run's
//! open ports. Loopback only: the target is fixed.

use std::sync::atomic::{AtomicU64, Ordering};

use tlink_tools::{Progress, RunOptions, Target, ToolKey, Toolbox, ToolsConfig, exposure};

struct Count(AtomicU64);

impl Progress for Count {
    fn set_total(&self, _total: u64) {}
    fn inc(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let ports = args.next().unwrap_or_else(|| "all".to_string());
    let mut config =
        ToolsConfig { allow_private_targets: true, resolvers: vec!["127.0.0.1:1".into()], ..Default::default() };
    if let Some(c) = args.next() {
        config.exposure.concurrency = c.parse()?;
    }
    config.exposure.banner_timeout_ms = 500;
    let concurrency = config.exposure.concurrency;
    let tb = Toolbox::new(config)?;
    let target = Target::parse(ToolKey::Exposure, "127.0.0.1")?;
    let options = RunOptions { ports: Some(ports.clone()), ..RunOptions::default() };
    let progress = Count(AtomicU64::new(0));
    let r = exposure::run(&tb, &target, &options, &progress).await?;
    println!(
        "ports={ports} concurrency={concurrency} scanned={} open={} closed={} filtered={} progress={}",
        r.scanned,
        r.open_ports.len(),
        r.closed,
        r.filtered,
        progress.0.load(Ordering::Relaxed)
    );
    for p in &r.ports {
        let cves: Vec<&str> = p.cves.iter().map(|c| c.id.as_str()).collect();
        println!(
            "  {}/tcp {} {} {} {:?} {cves:?}",
            p.port,
            p.service,
            p.product.as_deref().unwrap_or("-"),
            p.version.as_deref().unwrap_or("-"),
            p.banner.as_deref().unwrap_or("")
        );
    }
    println!("risk: {} ({:?}), {} findings", r.risk_score, r.risk_level, r.findings.len());
    println!("run: {} ms; connect scan: {:.0} ports/s", r.elapsed_ms, r.ports_per_second);
    Ok(())
}
