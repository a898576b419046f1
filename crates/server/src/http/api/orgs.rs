//! Organizations and their members. Every route under `/api/orgs/{orgId}` goes through [`OrgCaller`],
//! which answers 404 to non-members.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tlink_domain::{Plan, Role, UserId, format_millis};
use tlink_store::{MemberRow, OrgRow};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::{Caller, OrgCaller};
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, created, list, ok};
use crate::http::extract::{ApiJson, QueryMap, path_id};
use crate::http::pagination;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgOut {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    /// The caller's role in this organization.
    pub role: Role,
    pub created_at: String,
}

impl From<OrgRow> for OrgOut {
    fn from(o: OrgRow) -> Self {
        OrgOut {
            id: o.id.to_string(),
            name: o.name,
            plan: o.plan,
            role: o.role,
            created_at: format_millis(o.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// 1–200 characters.
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberOut {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// When the user joined the organization.
    pub created_at: String,
}

impl From<MemberRow> for MemberOut {
    fn from(m: MemberRow) -> Self {
        MemberOut {
            user_id: m.user_id.to_string(),
            email: m.email,
            name: m.name,
            role: m.role,
            created_at: format_millis(m.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// Email of an existing user.
    pub email: String,
    pub role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovedMember {
    pub user_id: String,
    pub removed: bool,
}

/// Organizations you belong to.
#[utoipa::path(get, path = "/api/orgs", tag = "orgs", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<OrgOut>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_orgs(State(state): State<AppState>, caller: Caller, q: QueryMap) -> ApiResult<Response> {
    let params = pagination::parse(&q, &state.keys.cursor_key, &format!("orgs:{}", caller.user_id), &[])?;
    let page = state.store.orgs_for_user(&caller.user_id, &params.page).await?;
    let token = params.token(page.next);
    Ok(list(page.items.into_iter().map(OrgOut::from).collect(), params.page.limit, token))
}

/// Create an organization; you become its owner. New organizations are on the FREE plan. When the server's
/// operator turned self-service off (`self_service_orgs = false`), only instance operators may.
#[utoipa::path(post, path = "/api/orgs", tag = "orgs", request_body = CreateOrg, security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    responses((status = 201, body = Envelope<OrgOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Self-service is off and you are not an operator")))]
pub async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateOrg>,
) -> ApiResult<Response> {
    let org = crate::ops::orgs::create_org(&state, &caller.user_id, &req.name).await?;
    Ok(created(OrgOut::from(org)))
}

/// One organization, with your role in it.
#[utoipa::path(get, path = "/api/orgs/{orgId}", tag = "orgs", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path)),
    responses((status = 200, body = Envelope<OrgOut>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_org(State(state): State<AppState>, caller: OrgCaller) -> ApiResult<Response> {
    let org = state
        .store
        .org_for_member(&caller.org_id, &caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(ok(OrgOut::from(org)))
}

/// Members of the organization.
#[utoipa::path(get, path = "/api/orgs/{orgId}/members", tag = "orgs", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<MemberOut>>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_members(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    let params = pagination::parse(&q, &state.keys.cursor_key, &format!("members:{}", caller.org_id), &[])?;
    let page = state.store.list_members(&caller.org_id, &params.page).await?;
    let token = params.token(page.next);
    Ok(list(page.items.into_iter().map(MemberOut::from).collect(), params.page.limit, token))
}

/// Add an existing user to the organization (owners and admins; only owners may add owners).
#[utoipa::path(post, path = "/api/orgs/{orgId}/members", tag = "orgs", request_body = AddMember, security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path)),
    responses((status = 201, body = Envelope<MemberOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such organization, or no user with that email"),
        (status = 409, body = ErrorBody, description = "Already a member")))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(req): ApiJson<AddMember>,
) -> ApiResult<Response> {
    let member = crate::ops::members::add_member(&state, &caller.member(), &req.email, req.role).await?;
    Ok(created(MemberOut::from(member)))
}

/// Change a member's role (owners and admins; only owners may touch the OWNER role; the last owner stays).
#[utoipa::path(patch, path = "/api/orgs/{orgId}/members/{userId}", tag = "orgs", request_body = UpdateMember,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("userId" = String, Path)),
    responses((status = 200, body = Envelope<MemberOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Would leave no owner")))]
pub async fn update_member(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateMember>,
) -> ApiResult<Response> {
    // Refused before the path's user id is read, as always: a member or viewer learns nothing from it.
    caller.require_admin()?;
    let user_id = path_id("userId", &user_id, UserId::parse)?;
    let member = crate::ops::members::change_role(&state, &caller.member(), &user_id, req.role).await?;
    Ok(ok(MemberOut::from(member)))
}

/// Remove a member (owners and admins, or yourself to leave; the last owner stays).
#[utoipa::path(delete, path = "/api/orgs/{orgId}/members/{userId}", tag = "orgs", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("userId" = String, Path)),
    responses((status = 200, body = Envelope<RemovedMember>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Would leave no owner")))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let user_id = path_id("userId", &user_id, UserId::parse)?;
    crate::ops::members::remove_member(&state, &caller.member(), &user_id).await?;
    Ok(ok(RemovedMember { user_id: user_id.to_string(), removed: true }))
}
