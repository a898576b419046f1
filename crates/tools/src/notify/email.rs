//! Alert mail over SMTP, through the operator's relay.
//!
//! [`Mailer`] keeps a pool of SMTP connections to the relay in [`SmtpConfig`] and sends one
//! `multipart/alternative` message (plain text and HTML) per call. With one recipient the message is addressed
//! to them (`To`); with several, `To` is the sender and the recipients are blind copies (only the SMTP envelope
//! names them), so one rule's recipients do not learn each other's addresses.
//!
//! The relay is the operator's configuration, not user input, so it is exempt from the egress policy (like the
//! providers' base URLs); recipients are only mail addresses handed to the relay.
//!
//! Every message carries a `Date` and a `Message-ID` (RFC 5322 §3.6): relays and spam filters penalise mail
//! without them, and the identifier lets a mail client thread and deduplicate alerts. The identifier's right
//! side is the sender's domain, not this host's name, which is often internal or meaningless (`localhost`).
//!
//! A failure says whether sending again could succeed ([`MailError::retryable`]): a permanent (5xx) SMTP reply,
//! an invalid address, or a relay that lacks what the configuration requires (STARTTLS, an authentication
//! mechanism) is not; a connection failure, a timeout, a TLS failure or a transient (4xx) reply is.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain text (port 25); only for a relay on the same host or network.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpSecurity {
    /// The usual port: 25, 587 or 465.
    pub const fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::None => 25,
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
        }
    }
}

/// The SMTP relay for alert mail. `Debug` does not print the password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's name or address. Empty: mail is not configured.
    pub host: String,
    /// 0: the usual port for `security` (25, 587 or 465).
    pub port: u16,
    /// `none`, `starttls` (the default) or `tls`.
    pub security: SmtpSecurity,
    /// Empty: no authentication.
    pub username: String,
    pub password: String,
    /// The sender, e.g. `tlink <alerts@example.com>`.
    pub from: String,
    /// Timeout of the connection and of each SMTP command, seconds; one message takes at most four times this.
    pub timeout_secs: u64,
    /// Accept any certificate from the relay (tests, a self-signed relay on a private network).
    pub accept_invalid_certs: bool,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 0,
            security: SmtpSecurity::default(),
            username: String::new(),
            password: String::new(),
            from: String::new(),
            timeout_secs: 15,
            accept_invalid_certs: false,
        }
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &if self.password.is_empty() { "" } else { "<redacted>" })
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

impl SmtpConfig {
    pub fn is_configured(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// `port`, or the usual port for `security` when it is 0.
    pub fn effective_port(&self) -> u16 {
        if self.port == 0 { self.security.default_port() } else { self.port }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    pub message: String,
    /// Whether sending the same message later could succeed.
    pub retryable: bool,
}

impl MailError {
    fn permanent(message: String) -> MailError {
        MailError { message, retryable: false }
    }

    fn from_smtp(e: &lettre::transport::smtp::Error) -> MailError {
        let retryable = !(e.is_permanent() || e.is_client());
        MailError { message: format!("sending mail: {}", causes(e)), retryable }
    }
}

/// Sends alert mail through the configured relay, over a pool of connections. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("relay", &self.relay).field("from", &self.from.to_string()).finish()
    }
}

impl Mailer {
    /// A mailer for `cfg`; `None` when no host is configured. Nothing is connected until the first message.
    ///
    /// # Errors
    /// A [`MailError`] (not retryable) when `from` is not a mail address or the TLS settings cannot be built.
    pub fn from_config(cfg: &SmtpConfig) -> Result<Option<Mailer>, MailError> {
        let host = cfg.host.trim();
        if host.is_empty() {
            return Ok(None);
        }
        if cfg.from.trim().is_empty() {
            return Err(MailError::permanent("smtp.from is required when smtp.host is set".to_string()));
        }
        let from: Mailbox = cfg
            .from
            .trim()
            .parse()
            .map_err(|e| MailError::permanent(format!("smtp.from `{}` is not a mail address: {e}", cfg.from)))?;
        let tls = match cfg.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls_parameters(host, cfg)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(host, cfg)?),
        };
        let port = cfg.effective_port();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(cfg.timeout()))
            .pool_config(PoolConfig::new().max_size(8));
        if !cfg.username.is_empty() {
            builder = builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
        }
        Ok(Some(Mailer { transport: builder.build(), from, relay: format!("{host}:{port}"), timeout: cfg.timeout() }))
    }

    /// Sends one `multipart/alternative` message (`text` and `html`) to `to` (see the module docs for how
    /// several recipients are addressed).
    ///
    /// # Errors
    /// [`MailError`], saying whether to retry.
    pub async fn send(&self, to: &[String], subject: &str, text: &str, html: &str) -> Result<(), MailError> {
        let mut recipients: Vec<Mailbox> = Vec::with_capacity(to.len());
        for raw in to {
            let mailbox: Mailbox =
                raw.trim().parse().map_err(|e| MailError::permanent(format!("`{raw}` is not a mail address: {e}")))?;
            if !recipients.iter().any(|m| m.email == mailbox.email) {
                recipients.push(mailbox);
            }
        }
        let builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .date_now()
            .message_id(Some(message_id(self.from.email.domain())));
        let builder = match recipients.as_slice() {
            [] => return Err(MailError::permanent("a message needs at least one recipient".to_string())),
            [one] => builder.to(one.clone()),
            many => {
                let envelope = lettre::address::Envelope::new(
                    Some(self.from.email.clone()),
                    many.iter().map(|m| m.email.clone()).collect::<Vec<Address>>(),
                )
                .map_err(|e| MailError::permanent(format!("building the envelope: {e}")))?;
                builder.to(self.from.clone()).envelope(envelope)
            }
        };
        let message = builder
            .multipart(MultiPart::alternative_plain_html(text.to_string(), html.to_string()))
            .map_err(|e| MailError::permanent(format!("building the message: {e}")))?;

        let limit = self.timeout * 4;
        let result = match tokio::time::timeout(limit, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(MailError::from_smtp(&e)),
            Err(_) => Err(MailError {
                message: format!("sending mail: the relay did not finish within {limit:?}"),
                retryable: true,
            }),
        };
        match &result {
            Ok(()) => tracing::debug!(relay = %self.relay, recipients = recipients.len(), "mail sent"),
            Err(e) => {
                tracing::warn!(relay = %self.relay, error = %e.message, retryable = e.retryable, "mail not sent")
            }
        }
        result
    }
}

/// `<32 random hex digits@domain>`: unique without a counter or this host's name.
fn message_id(domain: &str) -> String {
    format!("<{:032x}@{domain}>", rand::random::<u128>())
}

fn tls_parameters(host: &str, cfg: &SmtpConfig) -> Result<TlsParameters, MailError> {
    TlsParameters::builder(host.to_string())
        .dangerous_accept_invalid_certs(cfg.accept_invalid_certs)
        .build_rustls()
        .map_err(|e| MailError::permanent(format!("smtp TLS settings: {e}")))
}

/// The error and its causes, each once.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ports() {
        let cfg = SmtpConfig::default();
        assert_eq!(cfg.security, SmtpSecurity::Starttls);
        assert_eq!(cfg.timeout_secs, 15);
        assert!(!cfg.accept_invalid_certs && !cfg.is_configured());
        assert_eq!(cfg.effective_port(), 587);
        assert_eq!(SmtpConfig { security: SmtpSecurity::None, ..cfg.clone() }.effective_port(), 25);
        assert_eq!(SmtpConfig { security: SmtpSecurity::Tls, ..cfg.clone() }.effective_port(), 465);
        assert_eq!(SmtpConfig { port: 2525, ..cfg }.effective_port(), 2525);
    }

    #[test]
    fn reads_from_toml_and_refuses_unknown_keys() {
        let cfg: SmtpConfig = toml::from_str(
            "host = \"mail.example.com\"\nsecurity = \"tls\"\nfrom = \"tlink <alerts@example.com>\"\npassword = \"pw\"",
        )
        .unwrap();
        assert_eq!(
            (cfg.host.as_str(), cfg.security, cfg.effective_port()),
            ("mail.example.com", SmtpSecurity::Tls, 465)
        );
        assert_eq!(cfg.timeout_secs, 15);
        assert!(toml::from_str::<SmtpConfig>("security = \"ssl\"").is_err());
        assert!(toml::from_str::<SmtpConfig>("hots = \"x\"").is_err());
    }

    #[test]
    fn debug_redacts_the_password() {
        let cfg = SmtpConfig { password: "hunter2-secret".into(), username: "alerts".into(), ..SmtpConfig::default() };
        let text = format!("{cfg:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>") && text.contains("alerts"), "{text}");
    }

    #[tokio::test]
    async fn no_host_is_not_configured_and_from_is_checked() {
        assert!(Mailer::from_config(&SmtpConfig::default()).unwrap().is_none());
        let cfg = SmtpConfig { host: "127.0.0.1".into(), security: SmtpSecurity::None, ..SmtpConfig::default() };
        let err = Mailer::from_config(&cfg).unwrap_err();
        assert!(!err.retryable && err.message.contains("smtp.from"), "{err:?}");
        let err = Mailer::from_config(&SmtpConfig { from: "not an address".into(), ..cfg.clone() }).unwrap_err();
        assert!(!err.retryable && err.message.contains("not a mail address"), "{err:?}");
        for security in [SmtpSecurity::None, SmtpSecurity::Starttls, SmtpSecurity::Tls] {
            let cfg = SmtpConfig { from: "tlink <alerts@example.com>".into(), security, ..cfg.clone() };
            assert!(Mailer::from_config(&cfg).unwrap().is_some(), "{security:?}");
        }
    }

    #[tokio::test]
    async fn bad_recipients_are_not_retryable() {
        let cfg = SmtpConfig {
            host: "127.0.0.1".into(),
            port: 1,
            security: SmtpSecurity::None,
            from: "alerts@example.com".into(),
            ..SmtpConfig::default()
        };
        let mailer = Mailer::from_config(&cfg).unwrap().unwrap();
        let err = mailer.send(&["no-at-sign".into()], "s", "t", "<p>h</p>").await.unwrap_err();
        assert!(!err.retryable && err.message.contains("no-at-sign"), "{err:?}");
        let err = mailer.send(&[], "s", "t", "<p>h</p>").await.unwrap_err();
        assert!(!err.retryable, "{err:?}");
    }
}
