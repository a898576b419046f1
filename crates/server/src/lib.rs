//! The tlink server: the JSON API over HTTP, and the jobs behind it.
//!
//! [`open`] opens the store, applies migrations and bootstraps the admin user; [`router`] assembles the
//! routes and middleware and [`serve`] runs them. Three parts, in one direction:
//! - [`http`], the HTTP side: handlers, authentication, limits, extractors, errors, connections;
//! - [`ops`], the operations the HTTP side, the command line, the scheduler and the admin bootstrap share;
//! - [`jobs`], the job side: worker, scheduler, alerting, vulnerability matching;
//! - [`web`], the dashboard: HTML pages for people, a second front end over the same operations.
//!
//! The HTTP side calls operations; operations queue jobs; the job side imports nothing from the HTTP side.
//! Beside them, [`config`], [`credentials`], [`documents`] (stored rows as rules and the API see them), [`monitoring`] (the scan policy), [`sealed`] (secrets sealed at
//! rest) and logging are shared by all three.

#![forbid(unsafe_code)]

pub mod config;
pub mod credentials;
pub mod documents;
pub mod http;
pub mod jobs;
pub mod monitoring;
pub mod ops;
pub mod sealed;
mod telemetry;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tlink_store::Store;

use crate::http::{auth, connections, limits};
use crate::jobs::{alerting, scheduler, worker};

pub use config::Config;
pub use telemetry::init_logging;

/// Shared state of every handler: one reference-counted handle, so the router's per-request clones of
/// its services (each middleware and handler holds the state) cost one counter, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares (reached through it by `Deref`).
pub struct Shared {
    pub store: Store,
    pub config: Arc<Config>,
    pub keys: Arc<credentials::Keys>,
    pub throttle: Arc<auth::LoginThrottle>,
    pub toolbox: tlink_tools::Toolbox,
    /// Wakes this process's worker when a job is queued.
    pub wake: worker::Wake,
    /// Alert-rule evaluation and notifications (also used by the worker).
    pub alerting: Arc<alerting::Alerting>,
    /// Request rate limits and Hawk nonces.
    pub limiter: Arc<limits::Limiter>,
    /// Seals stored secrets (webhook secrets, the Hawk copy of API keys).
    pub sealer: sealed::Sealer,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// # Errors
    /// An invalid `[tools]` configuration (the message names the key).
    pub fn new(store: Store, config: Config, secret: &[u8]) -> anyhow::Result<Self> {
        let keys = credentials::Keys::new(secret, config.access_token_ttl_secs);
        let toolbox = tlink_tools::Toolbox::new(config.tools.clone()).context("invalid [tools] configuration")?;
        // Stored secrets are sealed with `secrets_key`; without one (tests, examples) a key derived from the
        // token secret is used. `open` always resolves a real one first.
        let sealer = if config.secrets_key.is_empty() {
            let mut derived = secret.to_vec();
            derived.extend_from_slice(b"/sealed-secrets");
            sealed::Sealer::new(&derived)
        } else {
            sealed::Sealer::new(config.secrets_key.as_bytes())
        };
        let mailer = tlink_tools::notify::Mailer::from_config(&config.smtp)
            .map_err(|e| anyhow::anyhow!("invalid [smtp] configuration: {e}"))?;
        let limiter = Arc::new(limits::Limiter::new(config.limits.clone()).context("invalid [limits] configuration")?);
        let throttle = auth::LoginThrottle::new(
            config.login_max_failures,
            Duration::from_secs(config.login_window_secs),
            &limiter,
        );
        let alerting = Arc::new(alerting::Alerting::new(
            store.clone(),
            &toolbox,
            sealer.clone(),
            mailer,
            Duration::from_secs(config.webhook_timeout_secs.max(1)),
        )?);
        Ok(AppState(Arc::new(Shared {
            store,
            config: Arc::new(config),
            keys: Arc::new(keys),
            throttle: Arc::new(throttle),
            toolbox,
            wake: worker::Wake::default(),
            alerting,
            limiter,
            sealer,
        })))
    }

    /// A worker sharing this state's store, toolbox and wake-ups.
    pub fn worker(&self) -> worker::Worker {
        worker::Worker::new(
            self.store.clone(),
            self.toolbox.clone(),
            self.config.worker.clone(),
            self.wake.clone(),
            Some(self.alerting.clone()),
        )
    }

    /// The monitoring scheduler sharing this state's store and wake-ups.
    pub fn scheduler(&self) -> scheduler::Scheduler {
        scheduler::Scheduler::new(
            self.store.clone(),
            self.config.monitoring.clone(),
            self.config.worker.max_attempts.max(1),
            self.wake.clone(),
        )
    }

    /// Runs this process's worker, and the scheduler when monitoring is enabled, until `stop` resolves.
    pub async fn run_jobs(&self, stop: tokio::sync::watch::Receiver<bool>) {
        let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let scheduler = self.config.monitoring.enabled.then(|| tokio::spawn(self.scheduler().run(until(stop.clone()))));
        self.worker().run(until(stop)).await;
        if let Some(s) = scheduler {
            let _ = s.await;
        }
    }
}

/// Opens the configured database, migrates it, and creates the admin user if configured.
pub async fn open(mut config: Config) -> anyhow::Result<AppState> {
    let url = config.database_url();
    let store = Store::connect(&url, config.database_pool_size)
        .await
        .with_context(|| format!("opening database {}", redact_url(&url)))?;
    let applied = store.migrate().await.context("applying migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    let secret = config.resolve_jwt_secret()?;
    if config.secrets_key.is_empty() {
        config.secrets_key = String::from_utf8(config.resolve_secrets_key()?).context("secrets_key is not UTF-8")?;
    }
    if config.smtp.host.is_empty() {
        tracing::warn!("no SMTP server configured (TLINK_SMTP_HOST): alert e-mail will be recorded as not sent");
    }
    let state = AppState::new(store, config, &secret)?;
    if state.limiter.shared() && !state.limiter.wait_connected(Duration::from_secs(2)).await {
        let mode = if state.config.limits.fail_closed { "refused (fail_closed)" } else { "let through" };
        tracing::warn!("Redis is not reachable yet: until it is, requests are {mode}");
    }
    bootstrap_admin(&state).await?;
    Ok(state)
}

/// Creates `admin_email`, an instance operator, with a first organization when both admin settings are given
/// and the user is new.
async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let cfg = &state.config;
    if cfg.admin_email.is_empty() || cfg.admin_password.is_empty() {
        return Ok(());
    }
    let email =
        ops::users::normalize_email(&cfg.admin_email).map_err(|m| anyhow::anyhow!("admin_email is invalid: {m}"))?;
    if state.store.user_by_email(&email).await?.is_some() {
        return Ok(());
    }
    let account = ops::users::NewAccount {
        email: &email,
        password: &cfg.admin_password,
        name: None,
        org: Some(&cfg.admin_org),
        operator: true,
    };
    ops::users::create_user(state, account).await.context("creating the admin user")?;
    tracing::info!(email = %email, org = %cfg.admin_org, "created admin user and organization");
    Ok(())
}

/// Hides the password in a database URL for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The full router with middleware: the JSON API, and the dashboard at `/` unless `web.enabled` is off.
pub fn router(state: AppState) -> Router {
    let pages = state.config.web.enabled.then(|| http::api::Pages {
        routes: web::routes(),
        owns: web::is_page_path,
        not_found: web::page::not_found,
    });
    http::api::router(state, pages)
}

/// `listener` with `TCP_NODELAY` on every accepted connection: a response goes out as soon as it is written,
/// not held back by Nagle's algorithm while the client delays its acknowledgement.
pub fn no_delay(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt as _;
    fn set(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY failed");
        }
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// Serves until ctrl-c / SIGTERM, with an in-process worker when `with_worker`. On shutdown the API stops
/// accepting requests and the worker finishes or gives back its jobs.
///
/// `started` runs once, on the calling thread, when the listener is bound and the router built, before the
/// first connection is accepted: the binary gives start-up's freed memory back to the system there.
pub async fn serve(state: AppState, with_worker: bool, started: impl FnOnce()) -> anyhow::Result<()> {
    let addr = state.config.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, worker = with_worker, "tlink listening");
    let follow = tokio::spawn(state.wake.clone().follow(state.store.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = with_worker.then(|| {
        let state = state.clone();
        let rx = stop_rx.clone();
        tokio::spawn(async move { state.run_jobs(rx).await })
    });
    let http = state.config.http.clone();
    let app = router(state);
    started();
    let stop = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    connections::serve(listener, app, &http, stop).await?;
    if let Some(w) = worker {
        let _ = w.await;
    }
    follow.abort();
    tracing::info!("shut down");
    Ok(())
}

/// Runs only a worker until ctrl-c / SIGTERM (`tlink worker`).
pub async fn run_worker(state: AppState) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let metrics = match state.config.worker.metrics_listen {
        Some(addr) => {
            // Installed before the first job: what is counted before the recorder exists is lost.
            telemetry::prometheus();
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr} for metrics"))?;
            tracing::info!(%addr, "worker metrics listening");
            let app = http::api::system::worker_routes();
            Some(tokio::spawn(async move { axum::serve(listener, app).await }))
        }
        None => None,
    };
    let follow = tokio::spawn(state.wake.clone().follow(state.store.clone()));
    state.run_jobs(stop_rx).await;
    follow.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }
}
