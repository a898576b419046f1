//! The tlink HTTP API.
//!
//! [`App::build`] opens the store, applies migrations and bootstraps the admin user; [`router`] assembles
//! the routes and middleware. Handlers live in [`api`], one module per resource; each is annotated for the
//! OpenAPI document, which is generated from the same route table that serves requests.

#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod pagination;
mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tlink_store::Store;

pub use config::Config;
pub use telemetry::init_logging;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub keys: Arc<auth::Keys>,
    pub throttle: Arc<auth::LoginThrottle>,
}

impl AppState {
    pub fn new(store: Store, config: Config, secret: &[u8]) -> Self {
        let keys = auth::Keys::new(secret, config.access_token_ttl_secs);
        let throttle =
            auth::LoginThrottle::new(config.login_max_failures, Duration::from_secs(config.login_window_secs));
        AppState { store, config: Arc::new(config), keys: Arc::new(keys), throttle: Arc::new(throttle) }
    }
}

/// Opens the configured database, migrates it, and creates the admin user if configured.
pub async fn open(config: Config) -> anyhow::Result<AppState> {
    let url = config.database_url();
    let store = Store::connect(&url, config.database_pool_size)
        .await
        .with_context(|| format!("opening database {}", redact_url(&url)))?;
    let applied = store.migrate().await.context("applying migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    let secret = config.resolve_jwt_secret()?;
    let state = AppState::new(store, config, &secret);
    bootstrap_admin(&state).await?;
    Ok(state)
}

/// Creates `admin_email` with a first organization when both admin settings are given and the user is new.
async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let cfg = &state.config;
    if cfg.admin_email.is_empty() || cfg.admin_password.is_empty() {
        return Ok(());
    }
    let email =
        api::users::normalize_email(&cfg.admin_email).map_err(|m| anyhow::anyhow!("admin_email is invalid: {m}"))?;
    if state.store.user_by_email(&email).await?.is_some() {
        return Ok(());
    }
    api::users::create_user(state, &email, &cfg.admin_password, None, Some(&cfg.admin_org))
        .await
        .map_err(|e| anyhow::anyhow!("creating admin user: {e}"))?;
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

/// The full router with middleware.
pub fn router(state: AppState) -> Router {
    api::router(state)
}

/// Serves until ctrl-c / SIGTERM.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let addr = state.config.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "tlink listening");
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
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
