//! Host agents: enrollment credentials (report-only), the report endpoint agents call, and the agents of
//! an organization — under `/api` in the envelope, and under `/v2` in Threat Stack's shape.
//!
//! An enrollment token (`tlagent_…`, shown once, stored as SHA-256) lets a host do one thing: report its
//! own inventory with `POST /api/agent/report` and `X-Agent-Token`. It is not accepted anywhere else, so a
//! compromised host cannot read the organization's data.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tlink_domain::{Addresses, AgentId, EnrollmentId, Package, Port, format_millis};
use tlink_store::{AgentReport, AgentRow, DbError, Inventory, decode_json};
use utoipa::ToSchema;

use crate::AppState;
use crate::credentials::sha256_hex;
use crate::http::auth::{HawkCaller, OrgCaller, ThreatStackError};
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, ErrorsBody, created, list, ok};
use crate::http::extract::{ApiJson, QueryMap, path_id};
use crate::http::pagination;
use crate::ops::agents::{TOKEN_PREFIX, TOKEN_RANDOM_LEN, TOKEN_VISIBLE_LEN, online_since};

/// Largest inventory list accepted (packages or ports).
const MAX_ITEMS: usize = 50_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollment {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentOut {
    pub id: String,
    pub name: String,
    /// Shown once: give it to `tlink agent --token`. It can only report a host's inventory.
    pub token: String,
    pub created_at: String,
}

/// Create an agent enrollment token (owners and admins).
#[utoipa::path(post, path = "/api/orgs/{orgId}/agent-enrollments", tag = "agents", request_body = CreateEnrollment,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path)),
    responses((status = 201, body = Envelope<EnrollmentOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_enrollment(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(req): ApiJson<CreateEnrollment>,
) -> ApiResult<Response> {
    let issued = crate::ops::agents::create_enrollment(&state, &caller.member(), &req.name).await?;
    Ok(created(EnrollmentOut {
        id: issued.row.id.to_string(),
        name: issued.row.name,
        token: issued.token,
        created_at: format_millis(issued.row.created_at),
    }))
}

/// An enrollment token as listed: its visible prefix only, never the token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentSummary {
    pub id: String,
    pub name: String,
    /// The token's first characters (`tlagent_…`), to tell tokens apart.
    pub prefix: String,
    pub created_at: String,
}

/// The organization's live (not revoked) enrollment tokens, newest first.
#[utoipa::path(get, path = "/api/orgs/{orgId}/agent-enrollments", tag = "agents",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<EnrollmentSummary>>), (status = 400, body = ErrorBody)))]
pub async fn list_enrollments(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    let params = pagination::parse(&q, &state.keys.cursor_key, &format!("agent-enrollments:{}", caller.org_id), &[])?;
    let page = state.store.list_enrollments(&caller.org_id, &params.page).await?;
    let token = params.token(page.next);
    let items = page
        .items
        .into_iter()
        .map(|e| EnrollmentSummary {
            id: e.id.to_string(),
            name: e.name,
            prefix: e.prefix,
            created_at: format_millis(e.created_at),
        })
        .collect();
    Ok(list(items, params.page.limit, token))
}

/// Revoke an enrollment token (owners and admins): hosts reporting with it are refused from then on; the
/// agents already seen stay listed.
#[utoipa::path(delete, path = "/api/orgs/{orgId}/agent-enrollments/{enrollmentId}", tag = "agents",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("enrollmentId" = String, Path)),
    responses((status = 200, body = Envelope<crate::http::api::users::Revoked>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_enrollment(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = path_id("enrollmentId", &id, EnrollmentId::parse)?;
    crate::ops::agents::revoke_enrollment(&state, &caller.member(), &id).await?;
    Ok(ok(crate::http::api::users::Revoked { id: id.to_string(), revoked: true }))
}

/// What `tlink agent` sends. `packages` and `ports` may be left out when `inventoryDigest` is the digest
/// of the inventory the server already has (a heartbeat).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportIn {
    pub instance_id: String,
    pub hostname: String,
    pub os_version: Option<String>,
    /// os-release `ID` (e.g. `debian`), for matching packages against the release's advisories.
    pub os_id: Option<String>,
    /// os-release `VERSION_ID` (e.g. `12`).
    pub os_version_id: Option<String>,
    pub kernel: Option<String>,
    pub agent_version: Option<String>,
    #[serde(default)]
    pub ip_addresses: Addresses,
    /// Tags the agent was started with (`tlink agent --tag key=value`): at most 50, keys 1 to 128
    /// characters, values at most 256.
    #[serde(default)]
    pub tags: Vec<TagIn>,
    pub inventory_digest: Option<String>,
    pub packages: Option<Vec<Package>>,
    pub ports: Option<Vec<Port>>,
}

/// One agent tag.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagIn {
    pub key: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AgentReportOut)]
pub struct ReportOut {
    pub agent_id: String,
    /// Send the full inventory with the next report.
    pub need_inventory: bool,
}

fn check_len(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.chars().count() > max {
        return Err(ApiError::field(field, format!("must be 1 to {max} characters")));
    }
    Ok(())
}

/// An agent reports its host (`X-Agent-Token` from an enrollment).
#[utoipa::path(post, path = "/api/agent/report", tag = "agents", request_body = ReportIn, security(("agentToken" = [])),
    responses((status = 200, body = Envelope<ReportOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn report(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let invalid = || ApiError::Unauthorized("invalid or revoked agent token (X-Agent-Token)".into());
    let token = headers.get("x-agent-token").and_then(|v| v.to_str().ok()).map(str::trim).ok_or_else(invalid)?;
    if token.len() != TOKEN_PREFIX.len() + TOKEN_RANDOM_LEN || !token.starts_with(TOKEN_PREFIX) {
        return Err(invalid());
    }
    let hash = sha256_hex(token);
    let candidates = state.store.enrollment_candidates(&token[..TOKEN_VISIBLE_LEN]).await?;
    let enrollment = candidates
        .into_iter()
        .find(|c| bool::from(c.token_hash.as_bytes().ct_eq(hash.as_bytes())))
        .ok_or_else(invalid)?;
    let req: ReportIn = crate::http::extract::parse_json(&body)?;
    check_len("instanceId", &req.instance_id, 200)?;
    check_len("hostname", &req.hostname, 255)?;
    let inventory = match (&req.packages, &req.ports) {
        (Some(p), Some(o)) => {
            if p.len() > MAX_ITEMS || o.len() > MAX_ITEMS {
                return Err(ApiError::field("packages", format!("at most {MAX_ITEMS} packages and ports")));
            }
            if req.inventory_digest.is_none() {
                return Err(ApiError::field("inventoryDigest", "is required with an inventory"));
            }
            let packages = serde_json::to_string(p).unwrap_or_else(|_| "[]".into());
            let ports = serde_json::to_string(o).unwrap_or_else(|_| "[]".into());
            Some(Inventory { packages, ports })
        }
        (None, None) => None,
        _ => return Err(ApiError::field("packages", "send packages and ports together, or neither")),
    };
    if req.tags.len() > 50 {
        return Err(ApiError::field("tags", "at most 50 tags"));
    }
    for (i, t) in req.tags.iter().enumerate() {
        if t.key.trim().is_empty() || t.key.chars().count() > 128 || t.value.chars().count() > 256 {
            return Err(ApiError::field(format!("tags[{i}]"), "key 1 to 128 characters, value at most 256"));
        }
    }
    let distro = match (&req.os_id, &req.os_version_id) {
        (Some(id), Some(version)) => tlink_domain::osv::distro_of_os_release(id, version).map(|d| d.key()),
        _ => None,
    };
    let report = AgentReport {
        instance_id: req.instance_id.trim().to_string(),
        hostname: req.hostname.trim().to_string(),
        os_version: req.os_version,
        kernel: req.kernel,
        distro,
        tags: serde_json::to_string(&req.tags).unwrap_or_else(|_| "[]".into()),
        version: req.agent_version,
        ip_addresses: serde_json::to_string(&req.ip_addresses).unwrap_or_else(|_| "{}".into()),
        digest: req.inventory_digest,
        inventory,
    };
    let (agent, need) = crate::ops::agents::record_report(&state, &enrollment.org_id, &enrollment.id, &report).await?;
    Ok(ok(ReportOut { agent_id: agent.id.to_string(), need_inventory: need }))
}

/// An agent in Threat Stack's shape (also used under `/api`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentOut {
    pub id: String,
    pub instance_id: String,
    /// `online` or `offline` (no report within `agent_offline_after_secs`).
    pub status: String,
    pub created_at: String,
    pub last_reported_at: String,
    pub version: Option<String>,
    pub name: String,
    pub description: String,
    pub hostname: String,
    pub ip_addresses: Addresses,
    /// `[{"source": "agent", "key": …, "value": …}]`, from `tlink agent --tag`.
    pub tags: Vec<serde_json::Value>,
    pub agent_type: String,
    pub os_version: Option<String>,
    pub kernel: Option<String>,
    /// Installed packages and listening ports (one agent only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Package>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<Port>>,
}

/// The agent as the API shows it; a stored JSON column that does not decode is an error.
fn agent_out(a: &AgentRow, since: i64, with_inventory: bool) -> Result<AgentOut, DbError> {
    let id = a.id.as_str();
    Ok(AgentOut {
        id: a.id.to_string(),
        instance_id: a.instance_id.clone(),
        status: if crate::ops::agents::is_online(a, since) { "online" } else { "offline" }.into(),
        created_at: format_millis(a.created_at),
        last_reported_at: format_millis(a.last_reported_at),
        version: a.version.clone(),
        name: a.hostname.clone(),
        description: String::new(),
        hostname: a.hostname.clone(),
        ip_addresses: decode_json("agents", id, "ip_addresses", &a.ip_addresses)?,
        tags: decode_json::<Vec<TagIn>>("agents", id, "tags", &a.tags)?
            .into_iter()
            .map(|t| serde_json::json!({"source": "agent", "key": t.key, "value": t.value}))
            .collect(),
        agent_type: "tlink".into(),
        os_version: a.os_version.clone(),
        kernel: a.kernel.clone(),
        packages: if with_inventory { Some(decode_json("agents", id, "packages", &a.packages)?) } else { None },
        ports: if with_inventory { Some(decode_json("agents", id, "ports", &a.ports)?) } else { None },
    })
}

fn status_filter(q: &QueryMap) -> Result<Option<bool>, ApiError> {
    match q.get("status").map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(s) if s == "online" => Ok(Some(true)),
        Some(s) if s == "offline" => Ok(Some(false)),
        Some(_) => Err(ApiError::field("status", "must be online or offline")),
    }
}

/// The agent filter, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AgentStatusQuery {
    /// `online` (reported recently) or `offline`.
    #[param(pattern = "^(online|offline)$")]
    status: Option<String>,
}

/// The organization's agents, newest first (`status=online|offline`).
#[utoipa::path(get, path = "/api/orgs/{orgId}/agents", tag = "agents", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), AgentStatusQuery, crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<AgentOut>>), (status = 400, body = ErrorBody)))]
pub async fn list_agents(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    let online = status_filter(&q)?;
    let params = pagination::parse(
        &q,
        &state.keys.cursor_key,
        &format!("agents:{}", caller.org_id),
        &[("status", q.get("status"))],
    )?;
    let since = online_since(&state);
    let page = state.store.list_agents(&caller.org_id, online, since, &params.page).await?;
    let token = params.token(page.next);
    let items = page.items.iter().map(|a| agent_out(a, since, false)).collect::<Result<_, _>>()?;
    Ok(list(items, params.page.limit, token))
}

/// One agent with its packages and listening ports.
#[utoipa::path(get, path = "/api/orgs/{orgId}/agents/{agentId}", tag = "agents", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("agentId" = String, Path)),
    responses((status = 200, body = Envelope<AgentOut>), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = path_id("agentId", &id, AgentId::parse)?;
    let agent = state.store.get_agent(&caller.org_id, &id).await?.ok_or_else(|| ApiError::not_found("agent"))?;
    Ok(ok(agent_out(&agent, online_since(&state), true)?))
}

#[derive(Serialize, ToSchema)]
pub struct AgentsPage {
    pub agents: Vec<AgentOut>,
    pub token: Option<String>,
}

/// Agents (Threat Stack): `status=online|offline`, `token`.
#[utoipa::path(get, path = "/v2/agents", tag = "threat-stack", security(("hawk" = [])),
    params(AgentStatusQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = AgentsPage), (status = 400, body = ErrorsBody)))]
pub async fn v2_list_agents(
    State(state): State<AppState>,
    caller: HawkCaller,
    q: Result<QueryMap, ApiError>,
) -> Result<Response, ThreatStackError> {
    let q = q?;
    let online = status_filter(&q)?;
    let params = pagination::parse_threat_stack(
        &q,
        &state.keys.cursor_key,
        &format!("v2-agents:{}", caller.org_id),
        &[("status", q.get("status"))],
    )?;
    let since = online_since(&state);
    let page = state.store.list_agents(&caller.org_id, online, since, &params.page).await.map_err(ApiError::from)?;
    let token = params.token(page.next);
    let agents =
        page.items.iter().map(|a| agent_out(a, since, false)).collect::<Result<_, _>>().map_err(ApiError::from)?;
    Ok(axum::Json(AgentsPage { agents, token }).into_response())
}

/// One agent (Threat Stack).
#[utoipa::path(get, path = "/v2/agents/{id}", tag = "threat-stack", security(("hawk" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AgentOut), (status = 404, body = ErrorsBody)))]
pub async fn v2_get_agent(
    State(state): State<AppState>,
    caller: HawkCaller,
    Path(id): Path<String>,
) -> Result<Response, ThreatStackError> {
    let missing = || ThreatStackError(ApiError::not_found("agent"));
    let id = AgentId::parse(&id).map_err(|_| missing())?;
    let agent = state.store.get_agent(&caller.org_id, &id).await.map_err(ApiError::from)?.ok_or_else(missing)?;
    Ok(axum::Json(agent_out(&agent, online_since(&state), false).map_err(ApiError::from)?).into_response())
}
