//! Membership roles and billing plans.
//!
//! This module exists so that every authorisation and quota decision reads
//! from one table: handlers ask a [`Role`] whether it may write or manage
//! members, and ask a [`Plan`] for its rate and usage limits, instead of
//! comparing strings. Both travel as upper-case names (`"OWNER"`, `"FREE"`) on
//! the wire and in storage.
//!
//! [`ParseEnumError`] lives here too: it is the one error for every closed set
//! of upper-case names in this crate, and it lists the accepted values so the
//! caller can correct the input.

use std::fmt;
use std::str::FromStr;

/// An input was not one of a fixed set of upper-case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be one of {}", .allowed.join(", "))]
pub struct ParseEnumError {
    what: &'static str,
    allowed: &'static [&'static str],
}

impl ParseEnumError {
    /// An error for the kind of value `what`, listing the `allowed` names.
    #[must_use]
    pub const fn new(what: &'static str, allowed: &'static [&'static str]) -> Self {
        Self { what, allowed }
    }

    /// What kind of value was being parsed (e.g. `"role"`).
    #[must_use]
    pub const fn what(&self) -> &'static str {
        self.what
    }

    /// The names that would have been accepted.
    #[must_use]
    pub const fn allowed(&self) -> &'static [&'static str] {
        self.allowed
    }
}

/// A member's role within an organisation, from most to least privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Full control, including deleting the organisation.
    Owner,
    /// Manages members and data.
    Admin,
    /// Reads and writes data.
    Member,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Every role, most privileged first.
    pub const ALL: &[Role] = &[Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    const NAMES: &[&str] = &["OWNER", "ADMIN", "MEMBER", "VIEWER"];

    /// The wire and storage name, e.g. `"OWNER"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Admin => "ADMIN",
            Role::Member => "MEMBER",
            Role::Viewer => "VIEWER",
        }
    }

    /// Whether this role may create, change or delete data.
    #[must_use]
    pub const fn can_write(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Member)
    }

    /// Whether this role may invite, remove or re-role members.
    #[must_use]
    pub const fn can_manage_members(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Privilege order: `Owner` 3, `Admin` 2, `Member` 1, `Viewer` 0.
    #[must_use]
    pub const fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::Admin => 2,
            Role::Member => 1,
            Role::Viewer => 0,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s).ok_or(ParseEnumError::new("role", Role::NAMES))
    }
}

/// An organisation's subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Plan {
    /// The plan every new organisation starts on.
    #[default]
    Free,
    /// Paid plan for individuals and small teams.
    Pro,
    /// Paid plan for larger teams.
    Business,
    /// Negotiated plan with custom limits.
    Enterprise,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: &[Plan] = &[Plan::Free, Plan::Pro, Plan::Business, Plan::Enterprise];

    const NAMES: &[&str] = &["FREE", "PRO", "BUSINESS", "ENTERPRISE"];

    /// The wire and storage name, e.g. `"FREE"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Plan::Free => "FREE",
            Plan::Pro => "PRO",
            Plan::Business => "BUSINESS",
            Plan::Enterprise => "ENTERPRISE",
        }
    }

    /// API requests allowed per minute; `None` means a custom limit set
    /// outside the plan (Enterprise).
    #[must_use]
    pub const fn requests_per_minute(self) -> Option<u32> {
        match self {
            Plan::Free => Some(30),
            Plan::Pro => Some(120),
            Plan::Business => Some(300),
            Plan::Enterprise => None,
        }
    }

    /// Tool runs allowed per calendar month; `None` means unlimited.
    #[must_use]
    pub const fn tool_runs_per_month(self) -> Option<u32> {
        match self {
            Plan::Free => Some(100),
            Plan::Pro => Some(5000),
            Plan::Business | Plan::Enterprise => None,
        }
    }
}

/// An organisation's plan with the custom figures an Enterprise plan carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanLimits {
    pub plan: Plan,
    /// Enterprise only: requests per minute; `None` means the deployment's Enterprise default.
    pub custom_requests_per_minute: Option<u32>,
    /// Enterprise only: tool runs per month; `None` means unlimited.
    pub custom_tool_runs_per_month: Option<u64>,
}

impl PlanLimits {
    /// Requests per minute per credential. Custom figures count only on Enterprise.
    #[must_use]
    pub fn requests_per_minute(&self, enterprise_default: u32) -> u32 {
        match self.plan.requests_per_minute() {
            Some(n) => n,
            None => self.custom_requests_per_minute.unwrap_or(enterprise_default),
        }
    }

    /// Tool runs allowed per calendar month (UTC); `None` means unlimited.
    #[must_use]
    pub fn tool_runs_per_month(&self) -> Option<u64> {
        match self.plan {
            Plan::Enterprise => self.custom_tool_runs_per_month,
            other => other.tool_runs_per_month().map(u64::from),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL.iter().copied().find(|p| p.as_str() == s).ok_or(ParseEnumError::new("plan", Plan::NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_limits_follow_the_seed_and_enterprise_customs() {
        let of = |plan| PlanLimits { plan, ..PlanLimits::default() };
        assert_eq!(of(Plan::Free).requests_per_minute(999), 30);
        assert_eq!(of(Plan::Pro).requests_per_minute(999), 120);
        assert_eq!(of(Plan::Business).requests_per_minute(999), 300);
        assert_eq!(of(Plan::Enterprise).requests_per_minute(999), 999);
        assert_eq!(of(Plan::Free).tool_runs_per_month(), Some(100));
        assert_eq!(of(Plan::Pro).tool_runs_per_month(), Some(5000));
        assert_eq!(of(Plan::Business).tool_runs_per_month(), None);
        assert_eq!(of(Plan::Enterprise).tool_runs_per_month(), None);
        let custom =
            |plan| PlanLimits { plan, custom_requests_per_minute: Some(7), custom_tool_runs_per_month: Some(12) };
        assert_eq!(custom(Plan::Enterprise).requests_per_minute(999), 7);
        assert_eq!(custom(Plan::Enterprise).tool_runs_per_month(), Some(12));
        // Custom figures are ignored on the fixed plans.
        assert_eq!(custom(Plan::Free).requests_per_minute(999), 30);
        assert_eq!(custom(Plan::Business).tool_runs_per_month(), None);
    }

    #[test]
    fn role_names_round_trip() {
        for &role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
            let json = serde_json::to_string(&role).expect("json");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            let back: Role = serde_json::from_str(&json).expect("back");
            assert_eq!(back, role);
        }
    }

    #[test]
    fn role_parse_is_exact() {
        for bad in ["owner", "Owner", " OWNER", "OWNER ", "", "ROOT"] {
            let err = bad.parse::<Role>().expect_err(bad);
            assert_eq!(err.to_string(), "role must be one of OWNER, ADMIN, MEMBER, VIEWER");
        }
    }

    #[test]
    fn role_permissions() {
        let table = [
            (Role::Owner, true, true, 3),
            (Role::Admin, true, true, 2),
            (Role::Member, true, false, 1),
            (Role::Viewer, false, false, 0),
        ];
        for (role, write, manage, rank) in table {
            assert_eq!(role.can_write(), write, "{role}");
            assert_eq!(role.can_manage_members(), manage, "{role}");
            assert_eq!(role.rank(), rank, "{role}");
        }
    }

    #[test]
    fn plan_names_round_trip() {
        for &plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>(), Ok(plan));
            let json = serde_json::to_string(&plan).expect("json");
            assert_eq!(json, format!("\"{}\"", plan.as_str()));
        }
        assert_eq!(Plan::default(), Plan::Free);
        let err = "free".parse::<Plan>().expect_err("lower case");
        assert_eq!(err.to_string(), "plan must be one of FREE, PRO, BUSINESS, ENTERPRISE");
        assert_eq!(err.allowed(), Plan::NAMES);
    }

    #[test]
    fn plan_limits() {
        let table = [
            (Plan::Free, Some(30), Some(100)),
            (Plan::Pro, Some(120), Some(5000)),
            (Plan::Business, Some(300), None),
            (Plan::Enterprise, None, None),
        ];
        for (plan, rpm, runs) in table {
            assert_eq!(plan.requests_per_minute(), rpm, "{plan}");
            assert_eq!(plan.tool_runs_per_month(), runs, "{plan}");
        }
    }

    #[test]
    fn schema_lists_upper_case_names() {
        let schema = <Role as utoipa::PartialSchema>::schema();
        let json = serde_json::to_value(&schema).expect("json");
        assert_eq!(json["enum"], serde_json::json!(["OWNER", "ADMIN", "MEMBER", "VIEWER"]));
    }
}
