//! Threat Stack API v2 organization members: the same memberships as `/api/orgs/{orgId}/members`, with
//! Threat Stack's role names.
//!
//! | Threat Stack role | tlink role |
//! |---|---|
//! | `user` | `MEMBER` (reads and changes the organization's resources) |
//! | `reader` | `VIEWER` (reads only) |
//! | `admin`, `owner` | `ADMIN`, `OWNER` (listed; owners are made through `/api`) |
//!
//! Owners and admins add existing users by e-mail and remove members; the last owner cannot be removed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tlink_domain::{Role, UserId, format_millis};
use tlink_store::MemberRow;
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::{HawkCaller, ThreatStackError};
use crate::http::error::{ApiError, ErrorsBody};
use crate::http::extract::{JsonBytes, QueryMap};
use crate::http::pagination;

type TsResult = Result<Response, ThreatStackError>;

fn err(e: impl Into<ApiError>) -> ThreatStackError {
    ThreatStackError(e.into())
}

/// A member as Threat Stack clients read it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsMember {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `owner`, `admin`, `user` or `reader`.
    pub role: String,
    pub created_at: String,
}

fn ts_role(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "user",
        Role::Viewer => "reader",
    }
}

impl From<MemberRow> for TsMember {
    fn from(m: MemberRow) -> Self {
        TsMember {
            id: m.user_id.to_string(),
            email: m.email,
            display_name: m.name,
            role: ts_role(m.role).into(),
            created_at: format_millis(m.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MembersPage {
    pub members: Vec<TsMember>,
    pub token: Option<String>,
}

/// Add an existing user: `{"email": …, "role": "user" | "reader" | "admin"}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TsAddMember {
    pub email: String,
    pub role: String,
}

/// Refused before the body or the path is read (the operations check it again).
fn require_admin(caller: &HawkCaller) -> Result<(), ThreatStackError> {
    crate::ops::members::require_manage(caller.role).map_err(err)
}

/// The organization's members (`token` paging).
#[utoipa::path(get, path = "/v2/organizations/members", tag = "threat-stack", security(("hawk" = [])),
    params(crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = MembersPage), (status = 400, body = ErrorsBody), (status = 401, body = ErrorsBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    caller: HawkCaller,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    let q = q?;
    let params =
        pagination::parse_threat_stack(&q, &state.keys.cursor_key, &format!("v2-members:{}", caller.org_id), &[])?;
    let page = state.store.list_members(&caller.org_id, &params.page).await.map_err(err)?;
    let token = params.token(page.next);
    Ok(axum::Json(MembersPage { members: page.items.into_iter().map(TsMember::from).collect(), token }).into_response())
}

/// Add an existing user to the organization (owners and admins).
#[utoipa::path(post, path = "/v2/organizations/members", tag = "threat-stack", security(("hawk" = [])),
    request_body = TsAddMember,
    responses((status = 201, body = TsMember), (status = 400, body = ErrorsBody), (status = 403, body = ErrorsBody),
        (status = 404, body = ErrorsBody, description = "No user with that email"), (status = 409, body = ErrorsBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: HawkCaller,
    raw: Result<JsonBytes, ApiError>,
) -> TsResult {
    require_admin(&caller)?;
    let JsonBytes(raw) = raw.map_err(err)?;
    let req: TsAddMember = crate::http::extract::parse_json(&raw).map_err(err)?;
    let role = match req.role.trim().to_ascii_lowercase().as_str() {
        "user" => Role::Member,
        "reader" => Role::Viewer,
        "admin" => Role::Admin,
        _ => return Err(err(ApiError::field("role", "must be user, reader or admin"))),
    };
    let origin = caller.origin();
    let member =
        crate::ops::members::add_member_as(&state, caller.acting(&origin), &req.email, role).await.map_err(err)?;
    Ok((StatusCode::CREATED, axum::Json(TsMember::from(member))).into_response())
}

/// Remove a member (owners and admins; an owner only by an owner; the last owner stays).
#[utoipa::path(delete, path = "/v2/organizations/members/{userId}", tag = "threat-stack", security(("hawk" = [])),
    params(("userId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorsBody), (status = 404, body = ErrorsBody), (status = 409, body = ErrorsBody)))]
pub async fn remove_member(State(state): State<AppState>, caller: HawkCaller, Path(user_id): Path<String>) -> TsResult {
    require_admin(&caller)?;
    let missing = || err(ApiError::not_found("member"));
    let user_id = UserId::parse(&user_id).map_err(|_| missing())?;
    let origin = caller.origin();
    crate::ops::members::remove_member_as(&state, caller.acting(&origin), &user_id).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
