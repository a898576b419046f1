//! The audit log, read-only: `GET /api/orgs/{orgId}/audit-log` (TLINK envelope) and Threat Stack's
//! `GET /v2/auditlogs` (Hawk, `{"recs": […], "token": …}`). Entries are written only by the operations
//! that make the changes (see [`crate::ops::audit`]); no route writes or deletes one. Owners and admins
//! read their organization's log; another organization's is a 404 like everything else.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tlink_domain::{UserId, format_millis};
use tlink_store::{AuditFilter, AuditRow};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::{HawkCaller, OrgCaller, ThreatStackError};
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, ErrorsBody, list};
use crate::http::extract::QueryMap;
use crate::http::pagination;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryOut {
    pub id: String,
    /// When the change was made.
    pub at: String,
    /// Who made it, as shown: an e-mail address, or `tlink (command line)`.
    pub actor: String,
    pub actor_user_id: Option<String>,
    /// The visible prefix of the API key the change came through (`X-API-Key` or Hawk), if any.
    pub actor_key_prefix: Option<String>,
    /// `resource.verb`: `api_key.created`, `api_key.rotated`, `api_key.revoked`, `member.added`,
    /// `member.role_changed`, `member.removed`, `rule.created`, `rule.updated`, `rule.deleted`,
    /// `rule.secret_rotated`, `plan.changed`, `alert.status_changed`, `vulnerability.suppressed`,
    /// `vulnerability.unsuppressed`, `agent_enrollment.created`, `agent_enrollment.revoked`.
    pub action: String,
    /// `api_key`, `member`, `rule`, `plan`, `alert`, `vulnerability` or `agent_enrollment`.
    pub target_type: String,
    pub target_id: String,
    /// The change in a sentence.
    pub summary: String,
    /// `api`, `dashboard` or `cli`.
    pub source: String,
    pub client_ip: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

impl TryFrom<AuditRow> for AuditEntryOut {
    type Error = tlink_store::DbError;

    fn try_from(r: AuditRow) -> Result<Self, Self::Error> {
        let detail = r.detail_json()?;
        Ok(AuditEntryOut {
            at: format_millis(r.created_at),
            actor_user_id: r.actor_user_id.map(|u| u.to_string()),
            id: r.id,
            actor: r.actor,
            actor_key_prefix: r.actor_key_prefix,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            summary: r.summary,
            source: r.source,
            client_ip: r.client_ip,
            detail,
        })
    }
}

/// The filters, read the same way on both families.
fn filter(q: &QueryMap) -> Result<AuditFilter, ApiError> {
    let actor_user_id = q
        .get("userId")
        .map(|u| UserId::parse(u).map_err(|_| ApiError::field("userId", "must be a user id")))
        .transpose()?;
    Ok(AuditFilter {
        action: q.get("action").map(str::to_string),
        actor_user_id,
        target_type: q.get("targetType").map(str::to_string),
    })
}

fn filter_values(q: &QueryMap) -> [(&'static str, Option<&str>); 3] {
    [("action", q.get("action")), ("targetType", q.get("targetType")), ("userId", q.get("userId"))]
}

/// The audit log filters, for the `OpenAPI` document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditQuery {
    /// Only this action, e.g. `member.role_changed`.
    action: Option<String>,
    /// Only changes to this kind of thing, e.g. `rule`.
    #[param(rename = "targetType")]
    target_type: Option<String>,
    /// Only changes made by this user.
    #[param(rename = "userId")]
    user_id: Option<String>,
}

/// Who changed what in the organization, newest first (owners and admins).
///
/// Changes to API keys, members, alert rules, the plan, alert statuses, vulnerability suppressions and agent
/// enrollment tokens are recorded whether they were made through the API, the dashboard or the command
/// line, with the actor, the key they used, the client's address and the time. The log is append-only:
/// nothing writes or deletes entries.
#[utoipa::path(get, path = "/api/orgs/{orgId}/audit-log", tag = "orgs", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), AuditQuery, crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<AuditEntryOut>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Members and viewers"), (status = 404, body = ErrorBody)))]
pub async fn list_audit(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    caller.require_admin()?;
    let f = filter(&q)?;
    let params =
        pagination::parse(&q, &state.keys.cursor_key, &format!("audit:{}", caller.org_id), &filter_values(&q))?;
    let page = state.store.list_audit(&caller.org_id, &f, &params.page).await?;
    let token = params.token(page.next);
    let items = page.items.into_iter().map(AuditEntryOut::try_from).collect::<Result<_, _>>()?;
    Ok(list(items, params.page.limit, token))
}

/// One audit record in Threat Stack's shape.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsAuditRecord {
    pub id: String,
    pub user_email: String,
    pub user_id: Option<String>,
    pub organization_id: String,
    /// Always `success`: refused changes are not recorded.
    pub result: &'static str,
    /// `create`, `update` or `delete`.
    pub crud: &'static str,
    pub action: String,
    /// `api`, `dashboard` or `cli`.
    pub source: String,
    pub description: String,
    pub event_time: String,
    /// `targetType`, `targetId`, `keyPrefix`, `clientIp` and the change's detail.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct TsAuditPage {
    pub recs: Vec<TsAuditRecord>,
    /// The next page's token; `null` at the end.
    pub token: Option<String>,
}

fn crud(action: &str) -> &'static str {
    match action.rsplit('.').next().unwrap_or_default() {
        "created" | "added" | "suppressed" => "create",
        "deleted" | "removed" | "revoked" | "unsuppressed" => "delete",
        _ => "update",
    }
}

impl TryFrom<AuditRow> for TsAuditRecord {
    type Error = tlink_store::DbError;

    fn try_from(r: AuditRow) -> Result<Self, Self::Error> {
        let detail = r.detail_json()?;
        Ok(TsAuditRecord {
            crud: crud(&r.action),
            event_time: format_millis(r.created_at),
            user_id: r.actor_user_id.map(|u| u.to_string()),
            organization_id: r.org_id.to_string(),
            context: serde_json::json!({
                "targetType": r.target_type,
                "targetId": r.target_id,
                "keyPrefix": r.actor_key_prefix,
                "clientIp": r.client_ip,
                "detail": detail,
            }),
            id: r.id,
            user_email: r.actor,
            result: "success",
            action: r.action,
            source: r.source,
            description: r.summary,
        })
    }
}

/// The organization's audit log (Threat Stack): `from`/`until` at any ISO-8601 precision, pages of at most
/// 100 with `token`; owners and admins.
#[utoipa::path(get, path = "/v2/auditlogs", tag = "threat-stack", security(("hawk" = [])),
    params(AuditQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = TsAuditPage), (status = 400, body = ErrorsBody), (status = 401, body = ErrorsBody), (status = 403, body = ErrorsBody)))]
pub async fn v2_list_audit(
    State(state): State<AppState>,
    caller: HawkCaller,
    q: Result<QueryMap, ApiError>,
) -> Result<Response, ThreatStackError> {
    let q = q?;
    if !caller.role.can_manage_members() {
        return Err(ThreatStackError(ApiError::Forbidden("only owners and admins read the audit log".into())));
    }
    let f = filter(&q)?;
    let list_name = format!("v2-audit:{}", caller.org_id);
    let params = pagination::parse_threat_stack(&q, &state.keys.cursor_key, &list_name, &filter_values(&q))?;
    let page = state.store.list_audit(&caller.org_id, &f, &params.page).await.map_err(ApiError::from)?;
    let token = params.token(page.next);
    let recs = page.items.into_iter().map(TsAuditRecord::try_from).collect::<Result<_, _>>().map_err(ApiError::from)?;
    Ok(axum::Json(TsAuditPage { recs, token }).into_response())
}
