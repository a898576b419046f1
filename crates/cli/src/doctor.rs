//! `tlink doctor` and `tlink health`: what an operator runs before starting tlink, after an upgrade, or from
//! a container's health check.
//!
//! `doctor` checks the configuration, the secrets, the database and its migrations, Redis, SMTP, the DNS
//! resolvers, the providers, the egress policy and the listen address. The checks that wait on the network
//! run at the same time, each under its own deadline, and one failing does not stop the others. Each prints
//! one line: `ok`, `warn` or `FAIL`, what it found and, unless all is well, what to do. `FAIL` means
//! `tlink serve` would not start or would not work; `warn` means it works, with something missing or risky.
//!
//! It changes nothing: it applies no migration, generates no secret and creates no database (the only write
//! is a probe file, created and removed at once, to learn whether a missing SQLite database could be
//! created). Secrets never appear in its output: URLs are shown with their password hidden, keys only as
//! present or absent, and every line is scrubbed of the configured secrets before it is printed.
//!
//! `health` asks a running server's `/readyz` (the process is up and its database answers) and fails
//! unless the answer is a 2xx within three seconds; the container image's `HEALTHCHECK` runs it, since the
//! image has no curl.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use tlink_server::Config;
use tlink_server::ops::users::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, check_org_name, normalize_email};
use tlink_store::{Dialect, MigrationStatus, Store};
use tlink_tools::config::ProviderConfig;
use tlink_tools::notify::{Mailer, SmtpConfig, SmtpSecurity};
use tlink_tools::{Toolbox, ToolsConfig};

/// How long the database has to open and answer each query.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long Redis has to connect and answer `PING`.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the SMTP relay has for the greeting, EHLO, TLS, authentication and NOOP together.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each resolver has to answer.
const DNS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `tlink health` waits for `/readyz`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);
/// The shortest `jwt_secret` and `secrets_key` the server accepts (see `Config::resolve_jwt_secret`).
const MIN_SECRET_LEN: usize = 32;
/// Secrets shorter than this are not scrubbed from the output: replacing every `ab` would garble it.
const MIN_SCRUBBED_LEN: usize = 4;

/// What `tlink doctor` checks beyond the configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Skip the bind test of the listen address (when the server is running, it holds the address).
    pub skip_listen: bool,
    /// The name each resolver is asked for.
    pub dns_name: String,
}

/// Runs every check and prints one line per check, then a count; true when none is `FAIL`.
///
/// # Errors
/// Only when standard output cannot be written: a failing check is a `FAIL` line, not an error.
pub async fn run(config: &Config, options: &Options) -> anyhow::Result<bool> {
    let mut lines = configuration(config);
    lines.push(secret(config, "jwt_secret", "TLINK_JWT_SECRET", &config.jwt_secret));
    lines.push(secret(config, "secrets_key", "TLINK_SECRETS_KEY", &config.secrets_key));
    lines.push(web(config));
    let (database, redis, smtp, dns, listen) = tokio::join!(
        database(config),
        redis_ping(config),
        smtp(&config.smtp),
        dns(&config.tools, &options.dns_name),
        listen(config.listen, options.skip_listen),
    );
    lines.extend(database);
    lines.push(redis);
    lines.push(smtp);
    lines.extend(dns);
    lines.extend(providers(&config.tools));
    lines.extend(files(&config.tools));
    lines.push(egress(&config.tools));
    lines.push(listen);

    let secrets = Secrets::of(config);
    for line in &lines {
        outln!("{}", secrets.scrub(&line.render()));
    }
    let count = |status: Status| lines.iter().filter(|l| l.status == status).count();
    let (fine, warned, failed) = (count(Status::Ok), count(Status::Warn), count(Status::Fail));
    outln!("{fine} ok, {warned} warn, {failed} FAIL");
    Ok(failed == 0)
}

/// `tlink health`: GET `/readyz` of a running server; an error unless it answers 2xx within three seconds.
///
/// `url` is the server's base URL (or the full `/readyz` or `/healthz` URL); without it, the configured
/// listen address, on loopback when it is a wildcard (`0.0.0.0:8080` is asked as `127.0.0.1:8080`).
///
/// # Errors
/// No answer in time, or an answer other than 2xx (503 when the server's database does not answer).
pub async fn health(config: &Config, url: Option<&str>) -> anyhow::Result<()> {
    let url = readiness_url(config.listen, url);
    let shown = tlink_server::redact_url(&url);
    let client = reqwest::Client::builder()
        .connect_timeout(HEALTH_TIMEOUT)
        .timeout(HEALTH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    let started = Instant::now();
    let response = client.get(url.as_str()).send().await.with_context(|| format!("{shown} did not answer"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{shown} answered {status}");
    let ms = started.elapsed().as_millis();
    outln!("ok    {shown} answered {} in {ms} ms", status.as_u16());
    Ok(())
}

/// The URL `tlink health` asks: `url` as given (with `/readyz` added to a base URL), or the listen address.
fn readiness_url(listen: SocketAddr, url: Option<&str>) -> String {
    let base = match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) if u.contains("://") => u.trim_end_matches('/').to_string(),
        Some(u) => format!("http://{}", u.trim_end_matches('/')),
        None => {
            let ip = match listen.ip() {
                IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            format!("http://{}", SocketAddr::new(ip, listen.port()))
        }
    };
    if base.ends_with("/readyz") || base.ends_with("/healthz") { base } else { format!("{base}/readyz") }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Works as configured.
    Ok,
    /// Works, with something missing or risky.
    Warn,
    /// `tlink serve` would not start, or this part would not work.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's verdict: what was found and, unless all is well, what to do.
#[derive(Debug)]
struct Line {
    status: Status,
    check: &'static str,
    found: String,
    todo: Option<String>,
}

impl Line {
    fn ok(check: &'static str, found: impl Into<String>) -> Line {
        Line { status: Status::Ok, check, found: found.into(), todo: None }
    }

    fn warn(check: &'static str, found: impl Into<String>, todo: impl Into<String>) -> Line {
        Line { status: Status::Warn, check, found: found.into(), todo: Some(todo.into()) }
    }

    fn fail(check: &'static str, found: impl Into<String>, todo: impl Into<String>) -> Line {
        Line { status: Status::Fail, check, found: found.into(), todo: Some(todo.into()) }
    }

    /// A hint on a line that is fine.
    fn hint(mut self, todo: impl Into<String>) -> Line {
        self.todo = Some(todo.into());
        self
    }

    /// `FAIL  database    what was found — what to do`.
    fn render(&self) -> String {
        let (label, check, found) = (self.status.label(), self.check, &self.found);
        match &self.todo {
            Some(todo) => format!("{label:<4}  {check:<11} {found} — {todo}"),
            None => format!("{label:<4}  {check:<11} {found}"),
        }
    }
}

/// The configuration as `tlink serve` checks it when it starts: `[tools]`, `[smtp]`, `[limits]`, the admin
/// account and the log format. One `ok` line, or one line per problem.
fn configuration(config: &Config) -> Vec<Line> {
    const SEE: &str = "see docs/configuration.md";
    let mut lines = Vec::new();
    if let Err(e) = Toolbox::new(config.tools.clone()) {
        lines.push(Line::fail("config", format!("[tools]: {e}"), format!("fix that key; {SEE}")));
    }
    if let Err(e) = Mailer::from_config(&config.smtp) {
        lines.push(Line::fail("config", format!("[smtp]: {e}"), format!("fix TLINK_SMTP_*; {SEE}")));
    }
    // Redis is checked on its own below; only the other `[limits]` keys are parsed here, so that nothing
    // starts connecting in the background.
    let mut limits = config.limits.clone();
    limits.redis_url.clear();
    if let Err(e) = tlink_server::http::limits::Limiter::new(limits) {
        lines.push(Line::fail("config", format!("[limits]: {e:#}"), format!("fix that key; {SEE}")));
    }
    lines.extend(admin(config));
    if !matches!(config.log_format.as_str(), "text" | "json") {
        lines.push(Line::warn(
            "config",
            format!("log_format `{}` is neither `text` nor `json`: logs are written as text", config.log_format),
            "set TLINK_LOG_FORMAT to text or json",
        ));
    }
    if lines.is_empty() {
        lines.push(Line::ok("config", "loaded and valid: [tools], [smtp], [limits], admin, logging"));
    }
    lines
}

/// The admin account `tlink serve` creates at start when both `admin_email` and `admin_password` are set
/// and the user does not exist yet.
fn admin(config: &Config) -> Vec<Line> {
    let (email, password) = (&config.admin_email, &config.admin_password);
    if email.is_empty() && password.is_empty() {
        return Vec::new();
    }
    if email.is_empty() || password.is_empty() {
        return vec![Line::warn(
            "config",
            "only one of admin_email and admin_password is set: no admin account is created",
            "set both TLINK_ADMIN_EMAIL and TLINK_ADMIN_PASSWORD, or neither",
        )];
    }
    let mut lines = Vec::new();
    if let Err(why) = normalize_email(email) {
        lines.push(Line::fail(
            "config",
            format!("admin_email `{email}` is not an e-mail address: {why}"),
            "`tlink serve` refuses to start; fix TLINK_ADMIN_EMAIL",
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
        lines.push(Line::warn(
            "config",
            format!("admin_password is not {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters long"),
            "`tlink serve` fails to create the admin (harmless once it exists); fix TLINK_ADMIN_PASSWORD",
        ));
    }
    if let Err(why) = check_org_name(&config.admin_org) {
        lines.push(Line::warn(
            "config",
            format!("admin_org: {why}"),
            "`tlink serve` fails to create the admin (harmless once it exists); fix TLINK_ADMIN_ORG",
        ));
    }
    lines
}

/// `jwt_secret` or `secrets_key`: configured and long enough, or kept in (or to be generated into) the data
/// directory. Several processes must share one, which a file generated per data directory is not.
fn secret(config: &Config, name: &'static str, env: &str, configured: &str) -> Line {
    let several = !config.database_url().starts_with("sqlite:");
    let share = format!(
        "with several processes on PostgreSQL set {env} to the same value on every one (`head -c 48 /dev/urandom | \
         base64`)"
    );
    if !configured.is_empty() {
        let n = configured.len();
        return if n < MIN_SECRET_LEN {
            Line::fail(
                name,
                format!("set, but {n} characters long: at least {MIN_SECRET_LEN} are needed"),
                format!("`tlink serve` refuses to start; set {env} to e.g. `head -c 48 /dev/urandom | base64`"),
            )
        } else {
            Line::ok(name, format!("set ({n} characters)"))
        };
    }
    let path = config.data_dir.join(name);
    let shown = path.display();
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() < MIN_SECRET_LEN => Line::fail(
            name,
            format!("{shown} holds fewer than {MIN_SECRET_LEN} characters"),
            format!("`tlink serve` refuses to start; replace the file, or set {env}"),
        ),
        Ok(_) if several => Line::warn(name, format!("read from {shown}"), share),
        Ok(_) => Line::ok(name, format!("kept in {shown}")),
        Err(e) if e.kind() == ErrorKind::NotFound && several => {
            Line::warn(name, format!("not set: `tlink serve` generates one into {shown}"), share)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Line::ok(name, format!("not set: generated into {shown} at first start"))
        }
        Err(e) => Line::fail(
            name,
            format!("cannot read {shown}: {e}"),
            "run doctor as the service's user (`sudo -u tlink tlink doctor`), or give that user the file",
        ),
    }
}

/// The dashboard's session cookie against the listen address.
fn web(config: &Config) -> Line {
    let listen = config.listen;
    if !config.web.enabled {
        return Line::ok("web", "dashboard off (web.enabled = false): the API only");
    }
    match (config.web.secure_cookies, listen.ip().is_loopback()) {
        (true, _) => {
            Line::ok("web", "the dashboard's session cookie is Secure: sign-in works over HTTPS (and localhost)")
        }
        (false, true) => {
            Line::ok("web", format!("the dashboard is served on {listen} with a session cookie not marked Secure"))
                .hint("behind an HTTPS proxy set TLINK_WEB__SECURE_COOKIES=true")
        }
        (false, false) => Line::warn(
            "web",
            format!("the dashboard listens on {listen} and its session cookie is not marked Secure"),
            "serve it over HTTPS (a proxy in front) and set TLINK_WEB__SECURE_COOKIES=true",
        ),
    }
}

/// The database answers, and which migrations are applied against those this build carries. Two lines:
/// `database` and `migrations`.
async fn database(config: &Config) -> Vec<Line> {
    let url = config.database_url();
    let shown = tlink_server::redact_url(&url);
    if let Some(path) = sqlite_path(&url) {
        match path.try_exists() {
            Ok(true) => {}
            Ok(false) => return sqlite_absent(&path),
            Err(e) => {
                return vec![
                    Line::fail(
                        "database",
                        format!("cannot look for {}: {e}", path.display()),
                        "run doctor as the service's user (`sudo -u tlink tlink doctor`), or give that user the \
                         data directory",
                    ),
                    Line::warn("migrations", "not checked: the database cannot be opened", "see the line above"),
                ];
            }
        }
        // Opening the database writes to it (its journal), as the server will.
        if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(&path) {
            return vec![
                Line::fail(
                    "database",
                    format!("cannot open {} for writing: {e}", path.display()),
                    "run doctor as the service's user (`sudo -u tlink tlink doctor`), or give that user the file \
                     and its directory",
                ),
                Line::warn("migrations", "not checked: the database cannot be opened", "see the line above"),
            ];
        }
    }
    let no_answer = |why: String| {
        vec![
            Line::fail(
                "database",
                format!("{shown} did not answer: {why}"),
                "check that the database runs and that TLINK_DATABASE_URL names it (host, port, user, password, \
                 database)",
            ),
            Line::warn("migrations", "not checked: the database did not answer", "see the line above"),
        ]
    };
    let started = Instant::now();
    let store = match tokio::time::timeout(DATABASE_TIMEOUT, Store::connect(&url, 1)).await {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => return no_answer(chain(&e)),
        Err(_) => return no_answer(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs())),
    };
    match tokio::time::timeout(DATABASE_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return no_answer(chain(&e)),
        Err(_) => return no_answer(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs())),
    }
    let ms = started.elapsed().as_millis();
    let engine = match store.db().dialect() {
        Dialect::Sqlite => "SQLite",
        Dialect::Postgres => "PostgreSQL",
    };
    let status = match tokio::time::timeout(DATABASE_TIMEOUT, store.migration_status()).await {
        Ok(Ok(status)) => migrations(&status),
        Ok(Err(e)) => Line::fail(
            "migrations",
            format!("reading the applied migrations: {}", chain(&e)),
            "check the database user's rights on schema_migrations",
        ),
        Err(_) => Line::fail(
            "migrations",
            format!("reading the applied migrations: no answer within {} s", DATABASE_TIMEOUT.as_secs()),
            "check the database's load and locks",
        ),
    };
    vec![Line::ok("database", format!("{engine} at {shown} answered in {ms} ms")), status]
}

/// The file of a `sqlite://path` (or `sqlite:path`) URL, read as the store reads it.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

/// A SQLite database that does not exist yet: fine when `tlink serve` can create it.
fn sqlite_absent(path: &Path) -> Vec<Line> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // The nearest directory that exists: `tlink serve` creates the rest below it.
    let existing = dir.ancestors().find(|d| d.is_dir()).unwrap_or(Path::new("."));
    match writable(existing) {
        Ok(()) => vec![
            Line::ok("database", format!("SQLite: {} does not exist yet; `tlink serve` creates it", path.display())),
            Line::ok("migrations", "none applied yet: `tlink serve` (or `tlink migrate`) applies them all at start"),
        ],
        Err(e) => vec![
            Line::fail(
                "database",
                format!("SQLite: {} does not exist, and {} is not writable: {e}", path.display(), existing.display()),
                "create the data directory for the service's user (systemd's StateDirectory= does), or run doctor \
                 as that user",
            ),
            Line::warn("migrations", "not checked: there is no database yet", "see the line above"),
        ],
    }
}

/// Whether files can be created in `dir`: a probe file is created and removed.
fn writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".tlink-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe)?;
    std::fs::remove_file(&probe)
}

/// The `migrations` line: everything applied, some pending, or a database newer than this build.
fn migrations(status: &MigrationStatus) -> Line {
    let known = status.known.len();
    let pending = status.pending();
    let unknown = status.unknown();
    if !unknown.is_empty() {
        return Line::fail(
            "migrations",
            format!("the database has migrations this build does not know ({unknown:?}): a newer tlink migrated it"),
            "run that newer tlink, or restore the backup taken before the upgrade: tlink does not downgrade a database",
        );
    }
    if status.applied.is_empty() {
        return Line::ok(
            "migrations",
            format!("none applied yet (an empty database): `tlink serve` (or `tlink migrate`) applies all {known}"),
        );
    }
    if !pending.is_empty() {
        return Line::warn(
            "migrations",
            format!("{} of {known} pending ({pending:?})", pending.len()),
            "`tlink serve` applies them at start; with several processes run `tlink migrate` once, then restart \
             them all",
        );
    }
    let latest = status.known.last().copied().unwrap_or_default();
    Line::ok("migrations", format!("all {known} applied (latest {latest})"))
}

/// Redis, when limits are shared through it: connect and `PING`.
async fn redis_ping(config: &Config) -> Line {
    let url = &config.limits.redis_url;
    if url.is_empty() {
        return Line::ok(
            "redis",
            "not configured: rate limits, the IP lock-out and Hawk nonces are kept by each process",
        )
        .hint("with several processes set TLINK_REDIS_URL on every one");
    }
    let shown = tlink_server::redact_url(url);
    let meanwhile = if config.limits.fail_closed {
        "until it answers, requests are refused (limits.fail_closed)"
    } else {
        "until it answers, requests are let through unlimited"
    };
    let client = match redis::Client::open(url.as_str()) {
        Ok(client) => client,
        Err(e) => {
            return Line::fail(
                "redis",
                format!("{shown} is not a Redis URL: {}", chain(&e)),
                "fix TLINK_REDIS_URL (redis://[:password@]host:6379/0)",
            );
        }
    };
    let started = Instant::now();
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    let todo = format!("check that Redis runs and that TLINK_REDIS_URL names it; {meanwhile}");
    match tokio::time::timeout(REDIS_TIMEOUT, ping).await {
        Ok(Ok(pong)) => Line::ok("redis", format!("{shown} answered {pong} in {} ms", started.elapsed().as_millis())),
        Ok(Err(e)) => Line::fail("redis", format!("{shown}: {}", chain(&e)), todo),
        Err(_) => Line::fail("redis", format!("{shown}: no answer within {} s", REDIS_TIMEOUT.as_secs()), todo),
    }
}

/// The SMTP relay, when configured: connect, greeting, EHLO, STARTTLS or TLS, authentication and NOOP, as
/// alert mail will (the same settings as `Mailer`). No mail is sent.
async fn smtp(cfg: &SmtpConfig) -> Line {
    if !cfg.is_configured() {
        return Line::warn(
            "smtp",
            "not configured: alert e-mail is recorded as not sent",
            "to send it, set TLINK_SMTP_HOST and TLINK_SMTP_FROM (and TLINK_SMTP_USERNAME, TLINK_SMTP_PASSWORD)",
        );
    }
    let host = cfg.host.trim();
    let port = cfg.effective_port();
    let relay = format!("{host}:{port}");
    let todo = "check TLINK_SMTP_HOST, TLINK_SMTP_PORT, TLINK_SMTP_SECURITY (starttls on 587, tls on 465, none on 25), \
                TLINK_SMTP_USERNAME and TLINK_SMTP_PASSWORD";
    let transport = match smtp_transport(cfg, host, port) {
        Ok(transport) => transport,
        Err(e) => return Line::fail("smtp", format!("{relay}: {}", chain(&e)), todo),
    };
    let security = match cfg.security {
        SmtpSecurity::None => "plain text",
        SmtpSecurity::Starttls => "STARTTLS",
        SmtpSecurity::Tls => "TLS",
    };
    let auth = if cfg.username.is_empty() { String::new() } else { format!(", signed in as {}", cfg.username) };
    let started = Instant::now();
    match tokio::time::timeout(SMTP_TIMEOUT, transport.test_connection()).await {
        Ok(Ok(true)) => {
            let ms = started.elapsed().as_millis();
            Line::ok("smtp", format!("{relay} answered ({security}{auth}) in {ms} ms"))
        }
        Ok(Ok(false)) => Line::fail("smtp", format!("{relay} closed the connection after the greeting"), todo),
        Ok(Err(e)) => Line::fail("smtp", format!("{relay}: {}", chain(&e)), todo),
        Err(_) => Line::fail("smtp", format!("{relay}: no answer within {} s", SMTP_TIMEOUT.as_secs()), todo),
    }
}

/// A transport to the relay built as `tlink_tools::notify::Mailer` builds its own.
fn smtp_transport(
    cfg: &SmtpConfig,
    host: &str,
    port: u16,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    let params = || {
        TlsParameters::builder(host.to_string()).dangerous_accept_invalid_certs(cfg.accept_invalid_certs).build_rustls()
    };
    let tls = match cfg.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls => Tls::Required(params()?),
        SmtpSecurity::Tls => Tls::Wrapper(params()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(cfg.timeout_secs.clamp(1, SMTP_TIMEOUT.as_secs()))));
    if !cfg.username.is_empty() {
        builder = builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
    }
    Ok(builder.build())
}

/// Each configured resolver (or the system's) answers a question for `name` within two seconds. A resolver
/// that does not answer is a warning, not a failure: the server runs without DNS, its tools do not.
async fn dns(tools: &ToolsConfig, name: &str) -> Vec<Line> {
    let fqdn = format!("{}.", name.trim().trim_end_matches('.'));
    let asks: Vec<(String, Vec<String>)> = if tools.resolvers.is_empty() {
        vec![("the system's resolvers".to_string(), Vec::new())]
    } else {
        tools.resolvers.iter().map(|r| (format!("resolver {r}"), vec![r.clone()])).collect()
    };
    let handles: Vec<_> = asks
        .into_iter()
        .map(|(label, resolvers)| {
            let tools = ToolsConfig { resolvers, ..tools.clone() };
            tokio::spawn(resolve(label, tools, fqdn.clone()))
        })
        .collect();
    let mut lines = Vec::with_capacity(handles.len());
    for handle in handles {
        lines.push(handle.await.unwrap_or_else(|e| Line::warn("dns", format!("the check stopped: {e}"), DNS_TODO)));
    }
    lines
}

const DNS_TODO: &str = "until a resolver answers, tools that resolve names (dns, email, whois, ssl and exposure by \
                        name) fail; check the network, or set TLINK_TOOLS__RESOLVERS";

/// One resolver's line.
async fn resolve(label: String, tools: ToolsConfig, fqdn: String) -> Line {
    let toolbox = match Toolbox::new(tools) {
        Ok(toolbox) => toolbox,
        Err(e) => {
            return Line::fail(
                "dns",
                format!("{label}: {e}"),
                "fix tools.resolvers (TLINK_TOOLS__RESOLVERS), or /etc/resolv.conf for the system's",
            );
        }
    };
    let name = fqdn.trim_end_matches('.').to_string();
    let started = Instant::now();
    let answer = tokio::time::timeout(DNS_TIMEOUT, toolbox.resolver().lookup_ip(fqdn)).await;
    let ms = started.elapsed().as_millis();
    match answer {
        Ok(Ok(lookup)) => match lookup.iter().next() {
            Some(ip) => Line::ok("dns", format!("{label} answered: {name} is {ip} ({ms} ms)")),
            None => Line::ok("dns", format!("{label} answered: {name} has no address ({ms} ms)")),
        },
        Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => {
            Line::ok("dns", format!("{label} answered: {name} has no address ({ms} ms)"))
        }
        Ok(Err(e)) => Line::warn("dns", format!("{label}: {}", chain(&e)), DNS_TODO),
        Err(_) => {
            Line::warn("dns", format!("{label}: no answer for {name} within {} s", DNS_TIMEOUT.as_secs()), DNS_TODO)
        }
    }
}

/// The providers of the reputation, e-mail and feed tools.
fn provider_list(tools: &ToolsConfig) -> [(&'static str, &'static str, &ProviderConfig); 5] {
    [
        ("abuseipdb", "ABUSEIPDB", &tools.abuseipdb),
        ("virustotal", "VIRUSTOTAL", &tools.virustotal),
        ("otx", "OTX", &tools.otx),
        ("greynoise", "GREYNOISE", &tools.greynoise),
        ("hibp", "HIBP", &tools.hibp),
    ]
}

/// Each provider: whether it has a key (never the key), and whether its base URL is one.
fn providers(tools: &ToolsConfig) -> Vec<Line> {
    provider_list(tools)
        .into_iter()
        .map(|(name, env, provider)| {
            let key = provider.is_configured();
            let base = tlink_server::redact_url(&provider.base_url);
            match (base_url(&provider.base_url), key) {
                (Err(why), true) => Line::fail(
                    "provider",
                    format!("{name}: key set, but base_url `{base}` {why}"),
                    format!("fix tools.{name}.base_url (TLINK_TOOLS__{env}__BASE_URL)"),
                ),
                (Err(why), false) => Line::warn(
                    "provider",
                    format!("{name}: no key, and base_url `{base}` {why}"),
                    format!("fix tools.{name}.base_url before setting a key"),
                ),
                (Ok(url), true) if url.scheme() == "http" => Line::warn(
                    "provider",
                    format!("{name}: key set; base_url {base} is plain http"),
                    "the key travels unencrypted: use https",
                ),
                (Ok(_), true) => Line::ok("provider", format!("{name}: key set; {base}")),
                (Ok(_), false) => Line::ok("provider", format!("{name}: no key, not asked"))
                    .hint(format!("set TLINK_TOOLS__{env}__API_KEY to use it")),
            }
        })
        .collect()
}

/// A provider base URL: absolute, http or https, with a host.
fn base_url(text: &str) -> Result<reqwest::Url, &'static str> {
    let url = reqwest::Url::parse(text.trim()).map_err(|_| "is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("is not an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    Ok(url)
}

/// The files the tools read (blocklists, feeds, extra CA roots, vulnerability rules) can be opened.
fn files(tools: &ToolsConfig) -> Option<Line> {
    let mut named: Vec<(String, PathBuf)> = Vec::new();
    named.extend(tools.blocklists.iter().map(|(n, p)| (format!("tools.blocklists.{n}"), p.clone())));
    named.extend(tools.feeds.iter().map(|(n, p)| (format!("tools.feeds.{n}"), p.clone())));
    if !tools.ssl.extra_roots.is_empty() {
        named.push(("tools.ssl.extra_roots".to_string(), PathBuf::from(&tools.ssl.extra_roots)));
    }
    if !tools.exposure.vuln_rules.is_empty() {
        named.push(("tools.exposure.vuln_rules".to_string(), PathBuf::from(&tools.exposure.vuln_rules)));
    }
    named.extend(
        tools
            .exposure
            .extra_vuln_rules
            .iter()
            .map(|p| ("tools.exposure.extra_vuln_rules".to_string(), PathBuf::from(p))),
    );
    if named.is_empty() {
        return None;
    }
    let problems: Vec<String> = named
        .iter()
        .filter_map(|(key, path)| std::fs::File::open(path).err().map(|e| format!("{key}: {}: {e}", path.display())))
        .collect();
    Some(if problems.is_empty() {
        Line::ok("files", format!("{} file(s) the tools read can be opened", named.len()))
    } else {
        Line::warn(
            "files",
            problems.join("; "),
            "tool runs that read them fail; fix the paths, or run doctor as the service's user",
        )
    })
}

/// The egress policy: whether tools may reach private addresses on a user's behalf, said plainly.
fn egress(tools: &ToolsConfig) -> Line {
    let exempt = if tools.egress_allow.is_empty() { "none".to_string() } else { tools.egress_allow.join(", ") };
    if tools.allow_private_targets {
        return Line::warn(
            "egress",
            "private egress is ALLOWED (tools.allow_private_targets): any user can make the tools connect to \
             loopback, private and link-local addresses, this host and its network included",
            "turn it off unless every user is trusted; list the networks tools may reach in tools.egress_allow",
        );
    }
    if tools.egress_allow.iter().any(|net| net.trim().ends_with("/0")) {
        return Line::warn(
            "egress",
            format!("tools.egress_allow exempts every address ({exempt}): the egress policy is off"),
            "list only the networks tools must reach",
        );
    }
    Line::ok("egress", format!("loopback, private and link-local targets are refused; exempt networks: {exempt}"))
}

/// The listen address can be bound (nothing else holds it, and this user may bind it).
async fn listen(addr: SocketAddr, skip: bool) -> Line {
    if skip {
        return Line::ok("listen", format!("{addr}: not checked (--skip-listen)"));
    }
    match tokio::net::TcpListener::bind(addr).await {
        Ok(_) => Line::ok("listen", format!("{addr} is free")),
        Err(e) => {
            let todo = match e.kind() {
                ErrorKind::AddrInUse => {
                    "another process holds it (a running tlink? then check with --skip-listen), or change TLINK_LISTEN"
                }
                ErrorKind::PermissionDenied => {
                    "ports below 1024 need CAP_NET_BIND_SERVICE (see docs/packaging.md), or listen on 8080 behind a \
                     proxy"
                }
                ErrorKind::AddrNotAvailable => {
                    "the address is not one of this host's: fix TLINK_LISTEN (0.0.0.0:8080 for every interface)"
                }
                _ => "fix TLINK_LISTEN",
            };
            Line::fail("listen", format!("cannot bind {addr}: {e}"), todo)
        }
    }
}

/// An error and its causes, each once, joined with `: `.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// The configured secrets, scrubbed from every line before it is printed. A second guard: no line is built
/// from a secret in the first place.
struct Secrets(Vec<String>);

impl Secrets {
    fn of(config: &Config) -> Secrets {
        let mut all = vec![
            config.jwt_secret.clone(),
            config.secrets_key.clone(),
            config.admin_password.clone(),
            config.smtp.password.clone(),
        ];
        all.extend(provider_list(&config.tools).iter().map(|(_, _, p)| p.api_key.clone()));
        for url in [config.database_url(), config.limits.redis_url.clone()] {
            if let Some(password) = url_password(&url) {
                all.push(percent_decode(password));
                all.push(password.to_string());
            }
        }
        all.retain(|s| s.chars().count() >= MIN_SCRUBBED_LEN);
        // Longest first, so that a secret containing another is hidden whole.
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        Secrets(all)
    }

    fn scrub(&self, line: &str) -> String {
        let mut out = line.to_string();
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// The password of `scheme://user:password@host…`, as `tlink_server::redact_url` finds it.
fn url_password(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let at = url.rfind('@')?;
    if at <= start {
        return None;
    }
    let (_, password) = url[start..at].split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// `%XX` escapes decoded (a URL's password as the server sends it).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            if bytes[i] == b'%' { text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) } else { None };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_asks_readyz_on_loopback_for_a_wildcard_listen_address() {
        let any4: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        let any6: SocketAddr = "[::]:9000".parse().expect("addr");
        let one: SocketAddr = "10.1.2.3:8080".parse().expect("addr");
        assert_eq!(readiness_url(any4, None), "http://127.0.0.1:8080/readyz");
        assert_eq!(readiness_url(any6, None), "http://[::1]:9000/readyz");
        assert_eq!(readiness_url(one, None), "http://10.1.2.3:8080/readyz");
        assert_eq!(readiness_url(any4, Some("http://127.0.0.1:9/")), "http://127.0.0.1:9/readyz");
        assert_eq!(readiness_url(any4, Some("127.0.0.1:9")), "http://127.0.0.1:9/readyz");
        assert_eq!(readiness_url(any4, Some("https://tlink.example.com/healthz")), "https://tlink.example.com/healthz");
    }

    #[test]
    fn secrets_are_scrubbed_from_lines() {
        let otx = ProviderConfig { api_key: "otx-key-0123".to_string(), ..ProviderConfig::default() };
        let config = Config {
            database_url: "postgres://tlink:p%40ss-word-1@db.internal/tlink".to_string(),
            jwt_secret: "x".repeat(40),
            tools: ToolsConfig { otx, ..ToolsConfig::default() },
            ..Config::default()
        };
        let secrets = Secrets::of(&config);
        let line = format!("p@ss-word-1 p%40ss-word-1 otx-key-0123 {}", "x".repeat(40));
        assert_eq!(secrets.scrub(&line), "*** *** *** ***");
        assert_eq!(url_password("redis://:pw-1234@127.0.0.1:6379/0"), Some("pw-1234"));
        assert_eq!(url_password("sqlite://./tlink-data/tlink.db"), None);
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }

    #[test]
    fn lines_read_status_check_and_what_to_do() {
        let line = Line::fail("database", "gone", "start it");
        assert_eq!(line.render(), "FAIL  database    gone — start it");
        assert_eq!(Line::ok("dns", "fine").render(), "ok    dns         fine");
    }

    #[test]
    fn provider_base_urls_must_be_http_urls_with_a_host() {
        assert!(base_url("https://api.abuseipdb.com/api/v2").is_ok());
        assert_eq!(base_url("ftp://example.com").err(), Some("is not an http or https URL"));
        assert_eq!(base_url("not a url").err(), Some("is not a URL"));
    }
}
