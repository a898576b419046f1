//! `tlink`: one binary for the API server and its administration.

// One unsafe call, to the allocator (`give_back_freed_memory`); nothing else may use unsafe code.
#![deny(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tlink::agent;
use tlink_server::Config;

/// mimalloc rather than the system allocator: requests, tool runs and queue work allocate many small, short-lived
/// buffers on every thread, and glibc's allocator (arena locks, consolidation) took about a sixth of the CPU in
/// the tool round-trip benchmark (`tool_bench`, which uses the same allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gives the memory freed so far on this thread back to the system. Start-up builds large short-lived
/// structures on this thread (the route table with its OpenAPI description), and mimalloc returns freed
/// pages only after a delay, checked on later allocations: a server that then sits idle would keep them
/// resident for good (about 9 MiB). Called once, on the thread that started the server, before it accepts
/// requests.
#[allow(unsafe_code)]
fn give_back_freed_memory() {
    // SAFETY: `mi_collect` has no preconditions: it frees this thread's empty pages and purges the freed
    // ranges of every arena, and may be called at any time from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Writes to standard output. A closed pipe (`tlink tool list | head -1`) ends the program quietly with
/// success, as command-line tools do, instead of a panic; other write errors are returned.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(anyhow::Error::new(e).context("writing to standard output"));
        }
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

mod db;
mod doctor;
mod tool;
mod vulndb;

/// `tlink --version`: the release and the git revision it was built from (set by `build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (rev ", env!("TLINK_GIT_REV"), ")");

#[derive(Parser)]
#[command(name = "tlink", version = VERSION, about = "Self-hosted threat intelligence and security monitoring API server")]
struct Cli {
    /// Configuration file (TOML). Default: ./tlink.toml when present. TLINK_* variables override it.
    #[arg(long, global = true, env = "TLINK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (applies migrations first).
    Serve {
        /// Listen address, overriding the configuration (e.g. 0.0.0.0:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Serve the API only; run jobs in separate `tlink worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run jobs (tool runs) only, without the API; several may share one PostgreSQL database.
    Worker,
    /// Run a tool locally, without a server, or list the tools.
    Tool {
        #[command(subcommand)]
        command: ToolCommand,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// User administration.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Report this host (inventory, then heartbeats) to a tlink server with an enrollment token.
    Agent {
        /// The server's base URL, e.g. `https://tlink.example.com`.
        #[arg(long, env = "TLINK_AGENT_SERVER")]
        server: String,
        /// The enrollment token (`tlagent_…`) from POST /api/orgs/{orgId}/agent-enrollments.
        #[arg(long, env = "TLINK_AGENT_TOKEN", hide_env_values = true)]
        token: String,
        /// Seconds between reports.
        #[arg(long, default_value_t = 60)]
        interval_secs: u64,
        /// Read the host's files below this directory (a mounted image, or fixtures).
        #[arg(long, default_value = "/")]
        root: std::path::PathBuf,
        /// Report once and exit.
        #[arg(long)]
        once: bool,
        /// A tag to report with the host, `key=value` (repeatable), e.g. `--tag env=prod --tag role=web`.
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<agent::Tag>,
    },
    /// Organization administration.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// The vulnerability database agents are matched against.
    Vulndb {
        #[command(subcommand)]
        command: VulndbCommand,
    },
    // `backup`, `restore` and `db copy` (see db.rs for their help).
    #[command(flatten)]
    Data(db::Command),
    /// Check the configuration, the database and its migrations, Redis, SMTP, DNS, providers and the listen
    /// address, without changing anything; exit 1 if a check fails.
    Doctor {
        /// Do not try to bind the listen address (the server is running and holds it).
        #[arg(long)]
        skip_listen: bool,
        /// The name each DNS resolver is asked for.
        #[arg(long, default_value = "example.com")]
        dns_name: String,
    },
    /// Ask a running server whether it is ready (GET /readyz); exit 1 unless it answers 2xx within 3 s.
    Health {
        /// The server's base URL (default: the configured listen address, on loopback when it is 0.0.0.0).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum VulndbCommand {
    /// Import OSV advisories (a directory of JSON files, a zip as osv.dev publishes per ecosystem, or one
    /// file), then match every agent. Safe to repeat: unchanged advisories are not rewritten.
    Import {
        /// The directory, zip or JSON file.
        path: PathBuf,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Set an organization's plan (its per-minute rate limit and monthly tool-run quota).
    SetPlan {
        /// The organization id.
        org: String,
        /// FREE, PRO, BUSINESS or ENTERPRISE.
        plan: String,
        /// ENTERPRISE only: requests per minute per credential.
        #[arg(long)]
        requests_per_minute: Option<u32>,
        /// ENTERPRISE only: tool runs per month (default unlimited).
        #[arg(long)]
        tool_runs_per_month: Option<u64>,
    },
    /// Show an organization's plan and this month's usage.
    Usage {
        /// The organization id.
        org: String,
    },
}

#[derive(Subcommand)]
enum ToolCommand {
    /// List the tools and the targets each accepts.
    List,
    /// Run a tool against a target and print a summary (or the JSON result with --json).
    Run {
        /// dns, whois, ip-reputation, email, exposure, ssl or threat-feed.
        tool: String,
        /// Domain, IP, URL, email address, hash or ASN, as the tool accepts; `host:port` for ssl.
        target: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// exposure: ports to scan (`22,80,443`, `1-1024`, `top100`, `all`).
        #[arg(long)]
        ports: Option<String>,
        /// ssl: port when the target names none.
        #[arg(long)]
        port: Option<u16>,
        /// Allow loopback and private targets for this run (tools.allow_private_targets).
        #[arg(long)]
        allow_private: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the documented default configuration.
    Default,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user, optionally with a first organization it owns.
    Create {
        #[arg(long)]
        email: String,
        /// The password (or set TLINK_NEW_USER_PASSWORD to keep it out of the shell history).
        #[arg(long, env = "TLINK_NEW_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        name: Option<String>,
        /// Name of an organization to create, owned by the new user.
        #[arg(long)]
        org: Option<String>,
        /// Make the user an instance operator: may change any organization's plan through the API (and
        /// create organizations when `self_service_orgs` is off).
        #[arg(long)]
        operator: bool,
    },
    /// Make an existing user an instance operator, or (with --off) no longer one.
    SetOperator {
        #[arg(long)]
        email: String,
        /// Take the role away instead.
        #[arg(long)]
        off: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Config { command: ConfigCommand::Default } = cli.command {
        out!("{}", tlink_server::config::DEFAULT_TOML);
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    let log_level = match &cli.command {
        // A local tool run prints its own output; keep the log to warnings.
        Command::Tool { .. } => "warn",
        // doctor and health print their own lines; a log line between them would only confuse.
        Command::Doctor { .. } | Command::Health { .. } => "error",
        _ => config.log_level.as_str(),
    };
    tlink_server::init_logging(&config.log_format, log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting runtime")?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen, no_worker } => {
            if let Some(addr) = listen {
                config.listen = addr;
            }
            let with_worker = config.worker.enabled && !no_worker;
            let state = tlink_server::open(config).await?;
            tlink_server::serve(state, with_worker, give_back_freed_memory).await
        }
        Command::Worker => {
            let state = tlink_server::open(config).await?;
            tlink_server::run_worker(state).await
        }
        Command::Tool { command: ToolCommand::List } => {
            tool::list()?;
            Ok(())
        }
        Command::Tool { command: ToolCommand::Run { tool, target, json, ports, port, allow_private } } => {
            if allow_private {
                config.tools.allow_private_targets = true;
            }
            let options = tlink_tools::RunOptions { ports, port };
            tool::run(config.tools, &tool, &target, options, json).await
        }
        Command::Data(command) => db::run(command, &config).await,
        Command::Doctor { skip_listen, dns_name } => {
            let ok = doctor::run(&config, &doctor::Options { skip_listen, dns_name }).await?;
            anyhow::ensure!(ok, "a check failed (see the FAIL lines above)");
            Ok(())
        }
        Command::Health { url } => doctor::health(&config, url.as_deref()).await,
        Command::Migrate => {
            let url = config.database_url();
            let store = tlink_store::Store::connect(&url, 1)
                .await
                .with_context(|| format!("opening {}", tlink_server::redact_url(&url)))?;
            let applied = store.migrate().await.context("applying migrations")?;
            outln!("applied {} migration(s): {applied:?}", applied.len());
            Ok(())
        }
        Command::User { command: UserCommand::Create { email, password, name, org, operator } } => {
            let state = tlink_server::open(config).await?;
            let account = tlink_server::ops::users::NewAccount {
                email: &email,
                password: &password,
                name,
                org: org.as_deref(),
                operator,
            };
            let (user, org_id) = tlink_server::ops::users::create_user(&state, account).await.map_err(flags)?;
            outln!("created user {} ({})", user.email, user.id);
            if let Some(org_id) = org_id {
                outln!("created organization {org_id}");
            }
            Ok(())
        }
        Command::User { command: UserCommand::SetOperator { email, off } } => {
            let state = tlink_server::open(config).await?;
            let user = tlink_server::ops::users::set_operator(&state, &email, !off).await.map_err(flags)?;
            let now =
                if user.is_operator { "is now an instance operator" } else { "is no longer an instance operator" };
            outln!("{} ({}) {now}", user.email, user.id);
            Ok(())
        }
        Command::Org { command } => org(command, config).await,
        Command::Agent { server, token, interval_secs, root, once, tags } => {
            let interval = std::time::Duration::from_secs(interval_secs.max(1));
            agent::run(agent::Options { server, token, interval, root, once, tags }).await
        }
        Command::Vulndb { command: VulndbCommand::Import { path } } => {
            let state = tlink_server::open(config).await?;
            vulndb::import(&state, &path).await.map(|_| ())
        }
        Command::Config { .. } => Ok(()),
    }
}

/// An operation's refusal as the command line says it: invalid inputs by their flag.
fn flags(e: tlink_server::ops::OpError) -> anyhow::Error {
    match e {
        tlink_server::ops::OpError::Invalid(errors) => {
            let why: Vec<String> = errors.iter().map(|e| format!("--{}: {}", kebab(&e.field), e.message)).collect();
            anyhow::anyhow!(why.join("; "))
        }
        other => anyhow::Error::new(other),
    }
}

async fn org(command: OrgCommand, config: Config) -> anyhow::Result<()> {
    let (org, set) = match command {
        OrgCommand::SetPlan { org, plan, requests_per_minute, tool_runs_per_month } => {
            let plan = plan.to_ascii_uppercase().parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let change = tlink_server::ops::plans::PlanChange { plan, requests_per_minute, tool_runs_per_month };
            // Checked before anything is opened, so a mistyped flag costs nothing.
            tlink_server::ops::plans::plan_limits(&change).map_err(flags)?;
            (org, Some(change))
        }
        OrgCommand::Usage { org } => (org, None),
    };
    let org_id = tlink_domain::OrgId::parse(&org).map_err(|e| anyhow::anyhow!("organization id: {e}"))?;
    let state = tlink_server::open(config).await?;
    if let Some(change) = set {
        let limits =
            tlink_server::ops::plans::set_plan(&state, &tlink_server::ops::Actor::Operator(None), &org_id, &change)
                .await
                .map_err(flags)?;
        outln!("organization {org_id} is now on {}", limits.plan);
    }
    let limits = state.store.org_limits(&org_id).await?.ok_or_else(|| anyhow::anyhow!("no organization {org_id}"))?;
    let (month, resets) = tlink_domain::usage_month(tlink_store::now_millis());
    let used = state.store.usage(&org_id, &month).await?;
    let per_minute = limits.requests_per_minute(state.config.limits.enterprise_default_per_minute);
    outln!("plan: {}  requests/minute: {per_minute}", limits.plan);
    match limits.tool_runs_per_month() {
        Some(quota) => outln!(
            "tool runs {month}: {} of {quota} ({} left), {} scheduled skipped; resets {}",
            used.runs,
            quota.saturating_sub(used.runs),
            used.skipped,
            tlink_domain::format_millis(resets)
        ),
        None => outln!("tool runs {month}: {} (unlimited)", used.runs),
    }
    Ok(())
}

/// `requestsPerMinute` → `requests-per-minute`, to name the flag.
fn kebab(field: &str) -> String {
    field
        .chars()
        .flat_map(|c| if c.is_ascii_uppercase() { vec!['-', c.to_ascii_lowercase()] } else { vec![c] })
        .collect()
}
