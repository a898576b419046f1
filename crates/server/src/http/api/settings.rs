//! Monitoring and notification settings of an organization: its default scan interval, and whether the
//! caller takes alert e-mail in it.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::OrgCaller;
use crate::http::error::{ApiResult, Envelope, ErrorBody, ok};
use crate::http::extract::ApiJson;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsOut {
    /// Minutes between scheduled scans of monitored assets without their own interval (default 1440).
    pub monitor_interval_minutes: i64,
    /// Whether you receive alert e-mail of rules without their own recipients.
    pub notify_email: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateSettings {
    /// Owners and admins only.
    pub monitor_interval_minutes: Option<i64>,
    /// Your own setting.
    pub notify_email: Option<bool>,
}

async fn current(state: &AppState, caller: &OrgCaller) -> ApiResult<SettingsOut> {
    let default = crate::ops::settings::DEFAULT_INTERVAL_MINUTES;
    let interval = state.store.org_monitor_interval(&caller.org_id).await?.unwrap_or(default);
    let notify = state.store.member_notify(&caller.org_id, &caller.user_id).await?.unwrap_or(false);
    Ok(SettingsOut { monitor_interval_minutes: interval, notify_email: notify })
}

/// The organization's default scan interval and your alert e-mail setting.
#[utoipa::path(get, path = "/api/orgs/{orgId}/settings", tag = "orgs", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path)),
    responses((status = 200, body = Envelope<SettingsOut>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_settings(State(state): State<AppState>, caller: OrgCaller) -> ApiResult<Response> {
    Ok(ok(current(&state, &caller).await?))
}

/// Change the default scan interval (owners and admins) and your alert e-mail setting.
#[utoipa::path(patch, path = "/api/orgs/{orgId}/settings", tag = "orgs", request_body = UpdateSettings,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path)),
    responses((status = 200, body = Envelope<SettingsOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_settings(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(req): ApiJson<UpdateSettings>,
) -> ApiResult<Response> {
    let member = caller.member();
    if let Some(minutes) = req.monitor_interval_minutes {
        crate::ops::settings::set_monitor_interval(&state, &member, minutes).await?;
    }
    if let Some(on) = req.notify_email {
        crate::ops::settings::set_alert_email(&state, &member, &caller.user_id, on).await?;
    }
    Ok(ok(current(&state, &caller).await?))
}
