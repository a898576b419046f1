//! An organization's monitoring and notification settings: its default scan interval (owners and admins
//! change it), and which members take alert e-mail (each member their own; owners and admins anyone's).

use tlink_domain::UserId;

use super::audit::{self, Change};
use super::members::require_manage;
use super::{FieldError, Member, OpError, OpResult};
use crate::AppState;
use crate::monitoring::MAX_INTERVAL_MINUTES;

/// The scan interval of an organization that has not set one: a day.
pub const DEFAULT_INTERVAL_MINUTES: i64 = 1440;

/// The shortest and longest default scan interval accepted, in minutes: `[monitoring]
/// min_interval_minutes` (at least 1) to a year.
pub fn interval_bounds(state: &AppState) -> (i64, i64) {
    (state.config.monitoring.min_interval_minutes.max(1), MAX_INTERVAL_MINUTES)
}

/// `minutes` if within `(min, max)`, else the error on `monitorIntervalMinutes`.
pub fn check_interval(minutes: i64, (min, max): (i64, i64)) -> Result<i64, FieldError> {
    if (min..=max).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(FieldError::new("monitorIntervalMinutes", format!("must be {min} to {max} minutes")))
    }
}

/// Sets the default interval between scheduled scans of the organization's monitored assets that have no
/// interval of their own (owners and admins).
pub async fn set_monitor_interval(state: &AppState, member: &Member, minutes: i64) -> OpResult<()> {
    require_manage(member.role)?;
    let minutes = check_interval(minutes, interval_bounds(state)).map_err(|e| OpError::Invalid(vec![e]))?;
    let before = state.store.org_monitor_interval(&member.org_id).await?;
    state.store.set_org_monitor_interval(&member.org_id, minutes).await?;
    if before != Some(minutes) {
        let was = before.map_or_else(|| "the default".to_string(), |m| format!("{m} minutes"));
        let c = Change {
            action: "settings.monitor_interval_changed",
            target_type: "organization",
            target_id: member.org_id.as_str(),
            summary: format!("changed the default scan interval from {was} to {minutes} minutes"),
            detail: Some(serde_json::json!({"from": before, "to": minutes})),
        };
        audit::record(state, member, c).await;
    }
    Ok(())
}

/// Turns alert e-mail (of rules without recipients of their own) on or off for member `user`: any member
/// for themself, owners and admins for anyone in the organization.
pub async fn set_alert_email(state: &AppState, member: &Member, user: &UserId, on: bool) -> OpResult<()> {
    if *user != member.user_id {
        require_manage(member.role)?;
    }
    let target = state.store.member(&member.org_id, user).await?.ok_or(OpError::NotFound("member"))?;
    let before = state.store.member_notify(&member.org_id, user).await?;
    if !state.store.set_member_notify(&member.org_id, user, on).await? {
        return Err(OpError::NotFound("member"));
    }
    if before != Some(on) {
        let c = Change {
            action: "member.alert_email_changed",
            target_type: "member",
            target_id: user.as_str(),
            summary: format!("turned alert e-mail {} for {}", if on { "on" } else { "off" }, target.email),
            detail: Some(serde_json::json!({"email": target.email, "alertEmail": on})),
        };
        audit::record(state, member, c).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_within_bounds() {
        assert_eq!(check_interval(5, (5, MAX_INTERVAL_MINUTES)), Ok(5));
        assert_eq!(check_interval(MAX_INTERVAL_MINUTES, (5, MAX_INTERVAL_MINUTES)), Ok(MAX_INTERVAL_MINUTES));
        let e = check_interval(4, (5, 600)).expect_err("too short");
        assert_eq!(e, FieldError::new("monitorIntervalMinutes", "must be 5 to 600 minutes"));
        assert!(check_interval(601, (5, 600)).is_err());
        assert!(check_interval(-1, (1, 600)).is_err());
        assert!(check_interval(DEFAULT_INTERVAL_MINUTES, (1, MAX_INTERVAL_MINUTES)).is_ok());
    }
}
