//! The operations: what a user, an operator or the scheduler can do to tlink, each written once.
//!
//! The JSON handlers (`api/`), the command line and the admin bootstrap call these functions; they take
//! typed input, check it, act through the store and the job side, and return domain results or an
//! [`OpError`]. Only the HTTP side turns an [`OpError`] into a status code (`From<OpError> for ApiError`),
//! and the command line into a message. Nothing here knows HTTP, and the job side knows nothing of this.
//!
//! - [`audit`]: record who changed what in an organization (every change below that an organization's
//!   members see).
//! - [`users`]: create a user (and its first organization).
//! - [`sessions`]: sign in under the failed-login throttle, find a browser's session, sign out.
//! - [`keys`]: create, rotate and revoke a user's API keys.
//! - [`orgs`]: create an organization; tell an instance operator.
//! - [`members`]: add an existing user to an organization, change a member's role, remove a member or
//!   leave (only owners touch the OWNER role; the last owner stays).
//! - [`settings`]: an organization's default scan interval; who takes alert e-mail.
//! - [`plans`]: check and set an organization's plan.
//! - [`assets`]: create an asset, change its label or monitoring, delete it.
//! - [`runs`]: queue a tool run; queue a scan of an asset now.
//! - [`alerts`]: change an alert's status; send a notification again.
//! - [`rules`]: check a rule as written; try one against the latest reports (a dry run); rotate a rule's
//!   webhook signing secret.
//! - [`agents`]: create and revoke enrollment tokens; record an agent's report and match its packages
//!   against the advisories; tell whether an agent is online.
//! - [`vulns`]: suppress a CVE (everywhere or on one agent) and lift a suppression.

pub mod agents;
pub mod alerts;
pub mod assets;
pub mod audit;
pub mod keys;
pub mod members;
pub mod orgs;
pub mod plans;
pub mod rules;
pub mod runs;
pub mod sessions;
pub mod settings;
pub mod users;
pub mod vulns;

use tlink_domain::{ApiKeyId, OrgId, PlanLimits, Role, UserId};
use tlink_store::DbError;

/// One invalid input and why; `field` is the input's name as the JSON API spells it (`assetId`,
/// `options.ports`), which the command line turns into its flag.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the request (`value`, `condition.operator`) or a query parameter.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Input that cannot be acted on, by field.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// Input that is wrong as a whole (no single field to name).
    #[error("{0}")]
    Rejected(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown, or another organization's: the same answer.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// It would duplicate or contradict what exists.
    #[error("{0}")]
    Conflict(String),
    /// The organization's monthly tool-run quota is used up until `resets_at` (unix ms).
    #[error("the monthly tool-run quota of {limit} for this organization's plan is used up; it resets at {}", tlink_domain::format_millis(*.resets_at))]
    QuotaExhausted { limit: u64, resets_at: i64 },
    /// Not the caller's doing: storage or another internal failure (logged once where it is answered).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl OpError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        OpError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<DbError> for OpError {
    fn from(e: DbError) -> Self {
        OpError::Internal(anyhow::Error::new(e).context("database"))
    }
}

pub type OpResult<T> = Result<T, OpError>;

/// Who acts: a member of an organization (through the API or the dashboard), or the operator — the
/// command line and the admin bootstrap (`None`), or a user who is an instance operator — who may do
/// anything.
#[derive(Debug, Clone)]
pub enum Actor {
    Member(Member),
    Operator(Option<UserId>),
}

/// A member acting in one organization, with the organization's plan.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    pub limits: PlanLimits,
    /// Where the request came from (for the audit log).
    pub origin: Origin,
}

/// Which front end a change came through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    #[default]
    Api,
    Dashboard,
    Cli,
}

impl Source {
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Dashboard => "dashboard",
            Source::Cli => "cli",
        }
    }
}

/// Where a request came from, as the audit log records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub source: Source,
    /// The API key the request was made with (`X-API-Key` or Hawk), if any.
    pub key: Option<ApiKeyId>,
    /// The client's address, when there was a request (formatted only when an entry is written).
    pub client_ip: Option<std::net::IpAddr>,
}

/// A member acting in an organization, borrowed, without the plan: what the membership and suppression
/// operations need, and all a Threat Stack caller (Hawk, no plan) carries.
#[derive(Debug, Clone, Copy)]
pub struct MemberRef<'a> {
    pub org_id: &'a OrgId,
    pub user_id: &'a UserId,
    pub role: Role,
    /// Where the request came from (for the audit log).
    pub origin: &'a Origin,
}

impl<'a> From<&'a Member> for MemberRef<'a> {
    fn from(m: &'a Member) -> Self {
        MemberRef { org_id: &m.org_id, user_id: &m.user_id, role: m.role, origin: &m.origin }
    }
}

impl Member {
    /// Forbidden unless the role may change the organization's resources (not a viewer).
    pub fn require_write(&self) -> OpResult<()> {
        require_write(self.role)
    }
}

/// Forbidden unless `role` may change an organization's resources (not a viewer).
pub fn require_write(role: Role) -> OpResult<()> {
    if role.can_write() {
        Ok(())
    } else {
        Err(OpError::Forbidden(format!("role {} may only read in this organization", role.as_str())))
    }
}
