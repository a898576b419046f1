//! Alert notifications: signed webhooks and SMTP mail.
//!
//! This module sends; deciding *what* to send (payloads, which rule fires, the attempt log) is the server's job.
//!
//! - [`webhook`]: signs a payload twice (Standard Webhooks headers and the legacy `X-TLINK-Signature`) and makes
//!   one delivery attempt through [`Webhooks`], which reports an [`Attempt`] with a [`Verdict`]. Webhook URLs
//!   come from users, so every connection goes through the [`Egress`](crate::Egress) policy like a tool's.
//! - [`schedule`]: when to try a failed delivery again ([`retry_delay`]): 8 attempts over about a day.
//! - [`email`]: a pooled SMTP transport ([`Mailer`]) to the operator's relay, which is exempt from the egress
//!   policy (it is configuration, not user input).

pub mod email;
pub mod schedule;
pub mod webhook;

pub use email::{MailError, Mailer, SmtpConfig, SmtpSecurity};
pub use schedule::{MAX_ATTEMPTS, SLOW_MINIMUM, retry_delay, schedule_table};
pub use webhook::{
    Attempt, DEFAULT_TIMEOUT, MAX_EXCERPT_BYTES, SecretError, Verdict, WebhookRequest, WebhookSecret, Webhooks,
    check_url, sign_standard, sign_tlink, verify_standard, verify_tlink,
};
