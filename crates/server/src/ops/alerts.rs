//! Alerts: change an alert's status along its lifecycle, and send one of its notifications again.

use tlink_domain::{AlertId, DeliveryId};
use tlink_store::{AlertRow, Redeliver, StatusChange, Transition};

use super::{Member, OpError, OpResult};
use crate::AppState;
use crate::jobs::background::BackgroundJob;
use crate::jobs::delivery::DeliveryJob;

/// An alert's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "OPEN",
            AlertStatus::Acknowledged => "ACKNOWLEDGED",
            AlertStatus::Resolved => "RESOLVED",
        }
    }

    /// Reads a status in any letter case.
    pub fn parse(s: &str) -> Option<AlertStatus> {
        match s.trim().to_ascii_uppercase().as_str() {
            "OPEN" => Some(AlertStatus::Open),
            "ACKNOWLEDGED" => Some(AlertStatus::Acknowledged),
            "RESOLVED" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }

    /// The statuses an alert may come from to reach this one: OPEN → ACKNOWLEDGED → RESOLVED,
    /// OPEN → RESOLVED, RESOLVED → OPEN (reopen).
    pub const fn reached_from(self) -> &'static [&'static str] {
        match self {
            AlertStatus::Acknowledged => &["OPEN"],
            AlertStatus::Resolved => &["OPEN", "ACKNOWLEDGED"],
            AlertStatus::Open => &["RESOLVED"],
        }
    }
}

/// The longest note a status change keeps, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// Changes an alert's status (`to` as typed), with an optional note. A change the lifecycle does not
/// allow from the alert's current status is a conflict that says which changes are possible.
pub async fn change_status(
    state: &AppState,
    member: &Member,
    id: &AlertId,
    to: &str,
    note: Option<&str>,
) -> OpResult<AlertRow> {
    member.require_write()?;
    let to =
        AlertStatus::parse(to).ok_or_else(|| OpError::field("status", "must be OPEN, ACKNOWLEDGED or RESOLVED"))?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(OpError::field("note", format!("must be at most {MAX_NOTE_CHARS} characters")));
    }
    let change = StatusChange { by: Some(&member.user_id), note, dismissal: None };
    match state.store.transition_alert(&member.org_id, id, to.reached_from(), to.as_str(), &change).await? {
        Transition::Changed(a) => {
            let c = super::audit::Change {
                action: "alert.status_changed",
                target_type: "alert",
                target_id: a.id.as_str(),
                summary: format!("set the alert “{}” to {}", a.message, a.status),
                detail: Some(serde_json::json!({"status": a.status, "note": note})),
            };
            super::audit::record(state, member, c).await;
            Ok(*a)
        }
        Transition::NotFound => Err(OpError::NotFound("alert")),
        Transition::Conflict => {
            Err(OpError::Conflict("cannot reopen: another alert for the same rule and asset is already open".into()))
        }
        Transition::Invalid(current) => {
            let possible = match current.as_str() {
                "OPEN" => "ACKNOWLEDGED or RESOLVED",
                "ACKNOWLEDGED" => "RESOLVED",
                _ => "OPEN (reopen)",
            };
            let to = to.as_str();
            Err(OpError::Conflict(format!(
                "cannot change an alert from {current} to {to}; from {current} it can go to {possible}"
            )))
        }
    }
}

/// Queues one more attempt of a delivery now (trigger `MANUAL`, the same `webhook-id`), unless an attempt
/// of it is running.
pub async fn redeliver(state: &AppState, member: &Member, id: &DeliveryId) -> OpResult<()> {
    member.require_write()?;
    match state.store.redeliver(&member.org_id, id, &DeliveryJob::manual().encode()).await? {
        Redeliver::Queued => {
            state.wake.notify();
            Ok(())
        }
        Redeliver::Busy => Err(OpError::Conflict("an attempt of this delivery is running; try again shortly".into())),
        Redeliver::NotFound => Err(OpError::NotFound("delivery")),
    }
}
