//! Plans: an organization's plan, with Enterprise's custom figures.

use tlink_domain::{OrgId, Plan, PlanLimits};

use super::{Actor, FieldError, OpError, OpResult};
use crate::AppState;

/// A plan change as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    pub plan: Plan,
    /// ENTERPRISE only: requests per minute per credential.
    pub requests_per_minute: Option<u32>,
    /// ENTERPRISE only: tool runs per month.
    pub tool_runs_per_month: Option<u64>,
}

/// Checks a plan change; the custom figures belong to ENTERPRISE only.
pub fn plan_limits(change: &PlanChange) -> OpResult<PlanLimits> {
    let mut errors = Vec::new();
    if change.plan != Plan::Enterprise {
        if change.requests_per_minute.is_some() {
            errors.push(FieldError::new("requestsPerMinute", "only an ENTERPRISE plan takes a custom limit"));
        }
        if change.tool_runs_per_month.is_some() {
            errors.push(FieldError::new("toolRunsPerMonth", "only an ENTERPRISE plan takes a custom quota"));
        }
    }
    if change.requests_per_minute == Some(0) {
        errors.push(FieldError::new("requestsPerMinute", "must be at least 1"));
    }
    if change.tool_runs_per_month.is_some_and(|n| i64::try_from(n).is_err()) {
        errors.push(FieldError::new("toolRunsPerMonth", "is too large"));
    }
    if !errors.is_empty() {
        return Err(OpError::Invalid(errors));
    }
    Ok(PlanLimits {
        plan: change.plan,
        custom_requests_per_minute: change.requests_per_minute,
        custom_tool_runs_per_month: change.tool_runs_per_month,
    })
}

/// Sets `org`'s plan. Plans belong to whoever runs the server: only the operator (the command line, or a
/// user who is an instance operator) may change one; members read theirs. Takes effect at once for rate
/// limits and quotas.
pub async fn set_plan(state: &AppState, actor: &Actor, org: &OrgId, change: &PlanChange) -> OpResult<PlanLimits> {
    if let Actor::Member(m) = actor {
        return Err(OpError::Forbidden(format!(
            "plans are set by the server's operator; your role in this organization is {}",
            m.role.as_str()
        )));
    }
    let limits = plan_limits(change)?;
    if !state.store.set_org_limits(org, &limits).await? {
        return Err(OpError::NotFound("organization"));
    }
    let by = match actor {
        Actor::Member(m) => m.user_id.to_string(),
        Actor::Operator(Some(user)) => user.to_string(),
        Actor::Operator(None) => "command line".to_string(),
    };
    tracing::info!(%org, plan = %limits.plan, %by, "plan changed");
    let c = super::audit::Change {
        action: "plan.changed",
        target_type: "plan",
        target_id: org.as_str(),
        summary: format!("set the plan to {}", limits.plan.as_str()),
        detail: Some(serde_json::json!({
            "plan": limits.plan.as_str(),
            "requestsPerMinute": change.requests_per_minute,
            "toolRunsPerMonth": change.tool_runs_per_month,
        })),
    };
    super::audit::record_by(state, actor, org, c).await;
    Ok(limits)
}
