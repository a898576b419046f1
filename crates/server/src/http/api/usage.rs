//! An organization's plan and usage: its rate limit, the month's tool runs, and changing the plan; and
//! Threat Stack's Hawk self-test.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tlink_domain::{OrgId, Plan, PlanLimits, format_millis, usage_month};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::hawk::HawkAuth;
use crate::http::auth::{Caller, HawkCaller, OrgCaller};
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, ok};
use crate::http::extract::{ApiJson, path_id};
use crate::ops::plans::PlanChange;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageOut {
    pub plan: Plan,
    /// Requests per minute allowed to each API key and to each user's sessions in this organization.
    pub requests_per_minute: u32,
    /// The month counted, `YYYY-MM` (UTC).
    pub month: String,
    /// Tool runs this month: manual runs, monitor-now and scheduled scans.
    pub tool_runs_used: u64,
    /// Tool runs allowed per month; `null` means unlimited.
    pub tool_runs_limit: Option<u64>,
    /// Tool runs left this month; `null` means unlimited.
    pub tool_runs_remaining: Option<u64>,
    /// Scheduled tool runs skipped this month because the quota was used up.
    pub scheduled_runs_skipped: u64,
    /// When the month's count starts again (RFC 3339, UTC).
    pub resets_at: String,
}

async fn usage_of(state: &AppState, caller_org: &tlink_domain::OrgId, limits: &PlanLimits) -> ApiResult<UsageOut> {
    let now = tlink_store::now_millis();
    let (month, resets) = usage_month(now);
    let used = state.store.usage(caller_org, &month).await?;
    let limit = limits.tool_runs_per_month();
    Ok(UsageOut {
        plan: limits.plan,
        requests_per_minute: limits.requests_per_minute(state.limiter.config().enterprise_default_per_minute),
        month,
        tool_runs_used: used.runs,
        tool_runs_limit: limit,
        tool_runs_remaining: limit.map(|l| l.saturating_sub(used.runs)),
        scheduled_runs_skipped: used.skipped,
        resets_at: format_millis(resets),
    })
}

/// The organization's plan, request rate limit and this month's tool-run usage.
#[utoipa::path(get, path = "/api/orgs/{orgId}/usage", tag = "orgs", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path)),
    responses((status = 200, body = Envelope<UsageOut>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_usage(State(state): State<AppState>, caller: OrgCaller) -> ApiResult<Response> {
    Ok(ok(usage_of(&state, &caller.org_id, &caller.limits).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetPlan {
    pub plan: Plan,
    /// ENTERPRISE only: requests per minute per credential (default: the deployment's Enterprise default).
    pub requests_per_minute: Option<u32>,
    /// ENTERPRISE only: tool runs per month (default: unlimited).
    pub tool_runs_per_month: Option<u64>,
}

/// Change an organization's plan. Plans belong to whoever runs the server: only instance operators may
/// change them, for any organization (`tlink user set-operator`, or `tlink org set-plan`); members get 403
/// and read their plan with `GET …/usage`. Takes effect at once for rate limits and quotas.
#[utoipa::path(put, path = "/api/orgs/{orgId}/plan", tag = "orgs", request_body = SetPlan,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path)),
    responses((status = 200, body = Envelope<UsageOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an instance operator"), (status = 404, body = ErrorBody)))]
pub async fn set_plan(
    State(state): State<AppState>,
    caller: Caller,
    hawk: Option<Extension<HawkAuth>>,
    Path(org): Path<String>,
    ApiJson(req): ApiJson<SetPlan>,
) -> ApiResult<Response> {
    let org_id = path_id("orgId", &org, OrgId::parse)?;
    // As on every route of an organization, the organization in Hawk `ext` is the one the request acts in.
    if let Some(Extension(HawkAuth { org: Some((ext, ..)), .. })) = &hawk
        && *ext != org_id
    {
        return Err(ApiError::Unauthorized("the organization in Hawk ext is not the organization in the path".into()));
    }
    let change = PlanChange {
        plan: req.plan,
        requests_per_minute: req.requests_per_minute,
        tool_runs_per_month: req.tool_runs_per_month,
    };
    let actor = match crate::ops::orgs::operator(&state, &caller.user_id).await? {
        Some(operator) => operator,
        None => {
            // A member learns that plans are not theirs to set; anyone else, that there is no such org.
            let (role, limits) = state
                .store
                .membership(&org_id, &caller.user_id)
                .await?
                .ok_or_else(|| ApiError::not_found("organization"))?;
            let member = crate::ops::Member {
                user_id: caller.user_id.clone(),
                org_id: org_id.clone(),
                role,
                limits,
                origin: caller.origin.clone(),
            };
            crate::ops::Actor::Member(member)
        }
    };
    let limits = crate::ops::plans::set_plan(&state, &actor, &org_id, &change).await?;
    Ok(ok(usage_of(&state, &org_id, &limits).await?))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelfTest {
    /// Always `true`.
    pub success: bool,
    pub message: String,
    pub user_id: String,
    pub organization_id: String,
}

/// Hawk self-test (Threat Stack): answers a signed success for a valid Hawk request whose `ext` names one
/// of the user's organizations.
#[utoipa::path(get, path = "/help/hawk/self-test", tag = "system", security(("hawk" = [])),
    responses((status = 200, body = SelfTest, description = "Signed with `Server-Authorization`"),
        (status = 401, body = crate::http::error::ErrorsBody)))]
pub async fn hawk_self_test(caller: HawkCaller) -> Response {
    axum::Json(SelfTest {
        success: true,
        message: "Hawk authentication succeeded".into(),
        user_id: caller.user_id.to_string(),
        organization_id: caller.org_id.to_string(),
    })
    .into_response()
}
