//! `tlink`: one binary for the API server and its administration.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tlink_server::Config;

#[derive(Parser)]
#[command(name = "tlink", version, about = "Self-hosted threat intelligence and security monitoring API server")]
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Config { command: ConfigCommand::Default } = cli.command {
        print!("{}", tlink_server::config::DEFAULT_TOML);
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    tlink_server::init_logging(&config.log_format, &config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting runtime")?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen } => {
            if let Some(addr) = listen {
                config.listen = addr;
            }
            let state = tlink_server::open(config).await?;
            tlink_server::serve(state).await
        }
        Command::Migrate => {
            let url = config.database_url();
            let store = tlink_store::Store::connect(&url, 1)
                .await
                .with_context(|| format!("opening {}", tlink_server::redact_url(&url)))?;
            let applied = store.migrate().await.context("applying migrations")?;
            println!("applied {} migration(s): {applied:?}", applied.len());
            Ok(())
        }
        Command::User { command: UserCommand::Create { email, password, name, org } } => {
            let state = tlink_server::open(config).await?;
            let (user, org_id) = tlink_server::api::users::create_user(&state, &email, &password, name, org.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created user {} ({})", user.email, user.id);
            if let Some(org_id) = org_id {
                println!("created organization {org_id}");
            }
            Ok(())
        }
        Command::Config { .. } => Ok(()),
    }
}
