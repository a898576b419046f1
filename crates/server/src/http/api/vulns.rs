//! Threat Stack API v2 vulnerabilities: what the organization's agents are vulnerable to, from the OSV
//! advisories imported with `tlink vulndb import` (see [`crate::jobs::vulns`] for the matching).
//!
//! A list entry is one CVE in one package at one installed version, with the agents that have it:
//!
//! | field | meaning |
//! |---|---|
//! | `cveNumber` | the CVE (or the advisory id when it names no CVE) |
//! | `reportedPackage` | the package as advisories name it (the source package) and its upstream version, `openssl 3.0.11` |
//! | `systemPackage` | the installed package and its full version, `libssl3 3.0.11-1~deb12u1` |
//! | `vectorType` | from the CVSS attack vector: `network`, `adjacent_network`, `local`, `physical` (or `null`) |
//! | `severity` | `critical`, `high`, `medium`, `low`, `negligible` or `unknown` |
//! | `isSuppressed` | whether the entry is suppressed (only suppressed entries are listed by `/suppressed`) |
//! | `agents` | ids of the agents with this finding |
//! | `fixedVersion`, `advisories`, `firstSeenAt` | tlink: the version that fixes it, the advisory ids, when first seen |
//!
//! `hasSecurityNotices=true` keeps only entries for which a fix has been published. `from`/`until` filter on
//! when a finding was first seen. A suppression (org-wide, or for one agent) moves findings from the active
//! lists to `/suppressed`; it does not stop matching.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tlink_domain::{AgentId, format_millis};
use tlink_store::{DbError, FindingRow, VulnFilter, decode_json};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::{HawkCaller, ThreatStackError};
use crate::http::error::{ApiError, ErrorsBody};
use crate::http::extract::{JsonBytes, QueryMap};
use crate::http::pagination;

type TsResult = Result<Response, ThreatStackError>;

fn bad(field: &str, why: &str) -> ThreatStackError {
    ThreatStackError(ApiError::field(field, why))
}

fn db(e: DbError) -> ThreatStackError {
    ThreatStackError(ApiError::from(e))
}

/// One vulnerability entry as Threat Stack clients read it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsVulnerability {
    pub cve_number: String,
    pub reported_package: String,
    pub system_package: String,
    pub vector_type: Option<String>,
    pub severity: String,
    pub is_suppressed: bool,
    pub agents: Vec<String>,
    pub fixed_version: Option<String>,
    pub advisories: Vec<String>,
    pub first_seen_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct VulnerabilitiesPage {
    pub cves: Vec<TsVulnerability>,
    /// Repeat the same query with `token=<this>` for the next page; `null` at the end.
    pub token: Option<String>,
}

/// The entry of one CVE's findings (`None` for an empty group); stored advisories that do not decode are an
/// error.
fn entry(group: &[FindingRow], suppressed: bool) -> Result<Option<TsVulnerability>, DbError> {
    let Some(first) = group.first() else { return Ok(None) };
    let f = &first.finding;
    let row = format!("({}, {}, {})", first.agent_id, f.cve, f.package);
    Ok(Some(TsVulnerability {
        cve_number: f.cve.clone(),
        reported_package: f.reported_package.clone(),
        system_package: format!("{} {}", f.binary_name, f.installed_version),
        vector_type: f.vector_type.clone(),
        severity: f.severity.clone(),
        is_suppressed: suppressed,
        agents: group.iter().map(|r| r.agent_id.to_string()).collect(),
        fixed_version: f.fixed_version.clone(),
        advisories: decode_json("agent_vulns", &row, "advisories", &f.advisories)?,
        first_seen_at: format_millis(group.iter().map(|r| r.first_seen_at).min().unwrap_or(first.first_seen_at)),
    }))
}

/// A CVE or advisory id in a path: letters, digits and `-_.:`, at most 100.
fn cve_param(raw: &str) -> Result<String, ThreatStackError> {
    crate::ops::vulns::cve_id(raw).map_err(op)
}

fn op(e: crate::ops::OpError) -> ThreatStackError {
    ThreatStackError(ApiError::from(e))
}

fn flag(q: &QueryMap, name: &str) -> Result<bool, ThreatStackError> {
    match q.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        // A bare `?hasSecurityNotices` means true.
        Some(v) if v.is_empty() || v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" => Ok(false),
        Some(_) => Err(bad(name, "must be true or false")),
    }
}

async fn agent_of(state: &AppState, caller: &HawkCaller, raw: &str) -> Result<AgentId, ThreatStackError> {
    let missing = || ThreatStackError(ApiError::not_found("agent"));
    let id = AgentId::parse(raw).map_err(|_| missing())?;
    state.store.get_agent(&caller.org_id, &id).await.map_err(db)?.ok_or_else(missing)?;
    Ok(id)
}

/// `status=suppressed` (true) or `status=active` / none (false).
fn wants_suppressed(status: Option<&str>) -> Result<bool, ThreatStackError> {
    match status.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("active") => Ok(false),
        Some("suppressed") => Ok(true),
        Some(_) => Err(bad("status", "must be active or suppressed")),
    }
}

/// One page of entries: `filter` holds what the path fixes (`scope` names it, for the page token), the
/// query adds `hasSecurityNotices`, `from`, `until`, `token`, and — where the path does not fix them —
/// `status` and `agentId` (each route documents exactly what it reads).
async fn list(state: &AppState, caller: &HawkCaller, q: &QueryMap, scope: &str, mut filter: VulnFilter) -> TsResult {
    let status = if filter.suppressed { None } else { q.get("status") };
    let agent = if filter.agent_id.is_some() { None } else { q.get("agentId") };
    filter.suppressed |= wants_suppressed(status)?;
    if let Some(raw) = agent {
        filter.agent_id = Some(agent_of(state, caller, raw).await?);
    }
    filter.has_fix = flag(q, "hasSecurityNotices")?;
    let params = pagination::parse_threat_stack(
        q,
        &state.keys.cursor_key,
        &format!("v2-vulns:{}:{scope}", caller.org_id),
        &[("status", status), ("agentId", agent), ("hasSecurityNotices", Some(if filter.has_fix { "1" } else { "0" }))],
    )?;
    let page = state.store.list_vulns(&caller.org_id, &filter, &params.page).await.map_err(db)?;
    let token = params.token(page.next);
    let cves = page
        .items
        .iter()
        .filter_map(|g| entry(g, filter.suppressed).transpose())
        .collect::<Result<_, _>>()
        .map_err(db)?;
    Ok(axum::Json(VulnerabilitiesPage { cves, token }).into_response())
}

/// The filters of the vulnerability lists, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct VulnQuery {
    /// `active` (the default) or `suppressed`.
    #[param(pattern = "^(active|suppressed)$")]
    status: Option<String>,
    /// Only this agent's findings.
    #[param(rename = "agentId")]
    agent_id: Option<String>,
    /// `true`: only entries for which a fix has been published.
    #[param(rename = "hasSecurityNotices")]
    has_security_notices: Option<bool>,
}

/// The filters of one agent's vulnerabilities, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct VulnAgentQuery {
    /// `active` (the default) or `suppressed`.
    #[param(pattern = "^(active|suppressed)$")]
    status: Option<String>,
    /// `true`: only entries for which a fix has been published.
    #[param(rename = "hasSecurityNotices")]
    has_security_notices: Option<bool>,
}

/// The filters of the suppressed vulnerabilities, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct VulnSuppressedQuery {
    /// Only this agent's findings.
    #[param(rename = "agentId")]
    agent_id: Option<String>,
    /// `true`: only entries for which a fix has been published.
    #[param(rename = "hasSecurityNotices")]
    has_security_notices: Option<bool>,
}

/// The filter of a CVE's servers, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ServersQuery {
    /// `active` (the default) or `suppressed`.
    #[param(pattern = "^(active|suppressed)$")]
    status: Option<String>,
}

/// The organization's vulnerabilities (`status=active`, `agentId`, `hasSecurityNotices`, `from`, `until`,
/// `token`), by CVE.
#[utoipa::path(get, path = "/v2/vulnerabilities", tag = "threat-stack", security(("hawk" = [])),
    params(VulnQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = VulnerabilitiesPage), (status = 400, body = ErrorsBody), (status = 401, body = ErrorsBody), (status = 429, body = ErrorsBody)))]
pub async fn list_vulnerabilities(
    State(state): State<AppState>,
    caller: HawkCaller,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    list(&state, &caller, &q?, "all", VulnFilter::default()).await
}

/// The suppressed vulnerabilities.
#[utoipa::path(get, path = "/v2/vulnerabilities/suppressed", tag = "threat-stack", security(("hawk" = [])),
    params(VulnSuppressedQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = VulnerabilitiesPage), (status = 400, body = ErrorsBody)))]
pub async fn list_suppressed(
    State(state): State<AppState>,
    caller: HawkCaller,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    list(&state, &caller, &q?, "suppressed", VulnFilter { suppressed: true, ..Default::default() }).await
}

/// The vulnerabilities of one agent.
#[utoipa::path(get, path = "/v2/vulnerabilities/agent/{agentId}", tag = "threat-stack", security(("hawk" = [])),
    params(("agentId" = String, Path), VulnAgentQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = VulnerabilitiesPage), (status = 404, body = ErrorsBody)))]
pub async fn list_for_agent(
    State(state): State<AppState>,
    caller: HawkCaller,
    Path(agent): Path<String>,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    let agent_id = agent_of(&state, &caller, &agent).await?;
    let scope = format!("agent:{agent_id}");
    list(&state, &caller, &q?, &scope, VulnFilter { agent_id: Some(agent_id), ..Default::default() }).await
}

/// The vulnerabilities of one server: Threat Stack's older name for an agent (the agent id).
#[utoipa::path(get, path = "/v2/vulnerabilities/server/{server}", tag = "threat-stack", security(("hawk" = [])),
    params(("server" = String, Path, description = "The agent id"), VulnAgentQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = VulnerabilitiesPage), (status = 404, body = ErrorsBody)))]
pub async fn list_for_server(
    state: State<AppState>,
    caller: HawkCaller,
    Path(server): Path<String>,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    list_for_agent(state, caller, Path(server), q).await
}

/// The vulnerabilities in one package (source or installed package name).
#[utoipa::path(get, path = "/v2/vulnerabilities/package/{pkg}", tag = "threat-stack", security(("hawk" = [])),
    params(("pkg" = String, Path), VulnQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = VulnerabilitiesPage), (status = 400, body = ErrorsBody)))]
pub async fn list_for_package(
    State(state): State<AppState>,
    caller: HawkCaller,
    Path(pkg): Path<String>,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    let pkg = pkg.trim().to_string();
    if pkg.is_empty() || pkg.chars().count() > 200 || pkg.chars().any(char::is_control) {
        return Err(bad("pkg", "must be a package name of at most 200 characters"));
    }
    let scope = format!("package:{pkg}");
    list(&state, &caller, &q?, &scope, VulnFilter { package: Some(pkg), ..Default::default() }).await
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsServer {
    pub agent_id: String,
    pub hostname: String,
}

#[derive(Serialize, ToSchema)]
pub struct ServersPage {
    pub servers: Vec<TsServer>,
    pub token: Option<String>,
}

/// The agents with a CVE (active findings; `status=suppressed` for suppressed ones).
#[utoipa::path(get, path = "/v2/vulnerabilities/{cve}/servers", tag = "threat-stack", security(("hawk" = [])),
    params(("cve" = String, Path), ServersQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = ServersPage), (status = 400, body = ErrorsBody)))]
pub async fn servers(
    State(state): State<AppState>,
    caller: HawkCaller,
    Path(cve): Path<String>,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    let q = q?;
    let cve = cve_param(&cve)?;
    let suppressed = wants_suppressed(q.get("status"))?;
    let params = pagination::parse_threat_stack(
        &q,
        &state.keys.cursor_key,
        &format!("v2-vuln-servers:{}:{cve}", caller.org_id),
        &[("status", q.get("status"))],
    )?;
    let filter = VulnFilter { cve: Some(cve), suppressed, ..Default::default() };
    let page = state.store.vuln_servers(&caller.org_id, &filter, &params.page).await.map_err(db)?;
    let token = params.token(page.next);
    let servers =
        page.items.into_iter().map(|(id, hostname)| TsServer { agent_id: id.to_string(), hostname }).collect();
    Ok(axum::Json(ServersPage { servers, token }).into_response())
}

/// Suppress a CVE for the organization, or for one agent with `agentId`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuppressIn {
    pub agent_id: Option<String>,
    /// Why (required, at most 1,000 characters).
    pub reason: String,
}

/// Lift a suppression (the org-wide one, or one agent's with `agentId`).
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnsuppressIn {
    pub agent_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuppressionOut {
    pub cve_number: String,
    /// `null`: for every agent of the organization.
    pub agent_id: Option<String>,
    pub reason: String,
    pub suppressed_by: Option<String>,
    pub suppressed_at: String,
}

fn require_write(caller: &HawkCaller) -> Result<(), ThreatStackError> {
    crate::ops::require_write(caller.role).map_err(op)
}

fn body<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, ThreatStackError> {
    crate::http::extract::parse_json(raw).map_err(ThreatStackError)
}

/// Suppress a CVE (`{reason, agentId?}`); suppressing again replaces the reason.
#[utoipa::path(post, path = "/v2/vulnerabilities/{cve}/suppress", tag = "threat-stack", security(("hawk" = [])),
    params(("cve" = String, Path)), request_body = SuppressIn,
    responses((status = 200, body = SuppressionOut), (status = 400, body = ErrorsBody), (status = 403, body = ErrorsBody), (status = 404, body = ErrorsBody)))]
pub async fn suppress(
    State(state): State<AppState>,
    caller: HawkCaller,
    Path(cve): Path<String>,
    raw: Result<JsonBytes, ApiError>,
) -> TsResult {
    require_write(&caller)?;
    let cve = cve_param(&cve)?;
    let JsonBytes(raw) = raw?;
    let req: SuppressIn = body(&raw)?;
    let origin = caller.origin();
    let row = crate::ops::vulns::suppress(&state, caller.acting(&origin), &cve, req.agent_id.as_deref(), &req.reason)
        .await
        .map_err(op)?;
    Ok(axum::Json(SuppressionOut {
        cve_number: row.cve,
        agent_id: row.agent_id.map(|a| a.to_string()),
        reason: row.reason,
        suppressed_by: row.created_by.map(|u| u.to_string()),
        suppressed_at: format_millis(row.created_at),
    })
    .into_response())
}

/// Lift a suppression (`{agentId?}`, or no body for the org-wide one); 404 when there is none.
#[utoipa::path(post, path = "/v2/vulnerabilities/{cve}/unsuppress", tag = "threat-stack", security(("hawk" = [])),
    params(("cve" = String, Path)), request_body(content = Option<UnsuppressIn>, description = "Optional: no body lifts the organization-wide suppression."),
    responses((status = 204), (status = 400, body = ErrorsBody), (status = 403, body = ErrorsBody), (status = 404, body = ErrorsBody)))]
pub async fn unsuppress(
    State(state): State<AppState>,
    caller: HawkCaller,
    Path(cve): Path<String>,
    raw: Result<JsonBytes, ApiError>,
) -> TsResult {
    require_write(&caller)?;
    let cve = cve_param(&cve)?;
    let JsonBytes(raw) = raw?;
    let req: UnsuppressIn = if raw.iter().all(u8::is_ascii_whitespace) { UnsuppressIn::default() } else { body(&raw)? };
    let origin = caller.origin();
    crate::ops::vulns::unsuppress(&state, caller.acting(&origin), &cve, req.agent_id.as_deref()).await.map_err(op)?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
