//! Assets: create one, change its label or monitoring, delete it. Monitoring decides when the asset is
//! next due here, once, from the policy in [`crate::monitoring`].

use tlink_domain::{AssetId, AssetType};
use tlink_store::{AssetPatch, AssetRow, DbError, NewAsset};

use super::{FieldError, Member, OpError, OpResult};
use crate::AppState;
use crate::monitoring::MAX_INTERVAL_MINUTES;

/// The longest label, in characters.
pub const MAX_LABEL: usize = 200;
/// The interval of an asset that has none, when its organization has none either: a day.
const DEFAULT_INTERVAL_MINUTES: i64 = 1440;

/// An asset as asked for.
#[derive(Debug, Clone)]
pub struct AssetInput {
    pub kind: AssetType,
    pub value: String,
    pub label: Option<String>,
    pub is_monitored: bool,
    /// Minutes between scans; `None` uses the organization's default.
    pub monitor_interval_minutes: Option<i64>,
}

/// A change to an asset: each field absent (`None`) keeps its value; `Some(None)` clears a label or an
/// interval (back to the organization's default).
#[derive(Debug, Clone, Default)]
pub struct AssetChange {
    pub label: Option<Option<String>>,
    pub is_monitored: Option<bool>,
    pub monitor_interval_minutes: Option<Option<i64>>,
}

fn check_label(label: Option<&str>) -> Result<Option<String>, FieldError> {
    match label.map(str::trim) {
        None | Some("") => Ok(None),
        Some(l) if l.chars().count() > MAX_LABEL => {
            Err(FieldError::new("label", format!("must be at most {MAX_LABEL} characters")))
        }
        Some(l) => Ok(Some(l.to_string())),
    }
}

fn check_interval(state: &AppState, minutes: Option<i64>) -> Result<Option<i64>, FieldError> {
    let min = state.config.monitoring.min_interval_minutes.max(1);
    match minutes {
        Some(m) if !(min..=MAX_INTERVAL_MINUTES).contains(&m) => {
            Err(FieldError::new("monitorIntervalMinutes", format!("must be {min} to {MAX_INTERVAL_MINUTES} minutes")))
        }
        m => Ok(m),
    }
}

/// Creates an asset in the member's organization: the value checked and normalised for its type, every
/// invalid field named at once; a monitored asset is first due within `first_scan_within_secs`.
pub async fn create_asset(state: &AppState, member: &Member, input: AssetInput) -> OpResult<AssetRow> {
    member.require_write()?;
    let mut errors = Vec::new();
    let value = tlink_domain::parse(input.kind, &input.value)
        .map_err(|e| errors.push(FieldError::new("value", e.to_string())))
        .ok();
    let label = check_label(input.label.as_deref()).map_err(|e| errors.push(e)).ok().flatten();
    let interval = check_interval(state, input.monitor_interval_minutes).map_err(|e| errors.push(e)).ok().flatten();
    let Some(value) = value.filter(|_| errors.is_empty()) else {
        return Err(OpError::Invalid(errors));
    };
    let next_scan_at = input.is_monitored.then(|| state.config.monitoring.first_scan_at(tlink_store::now_millis()));
    let new =
        NewAsset { value, label, is_monitored: input.is_monitored, monitor_interval_minutes: interval, next_scan_at };
    state.store.create_asset(&member.org_id, new).await.map_err(|e| match e {
        DbError::Unique(_) => OpError::Conflict("an asset with this type and value already exists".into()),
        other => other.into(),
    })
}

/// Changes an asset's label or monitoring. Turning monitoring on schedules a first scan soon; a new
/// interval takes effect from the last scan (or now); turning it off unschedules the asset.
pub async fn update_asset(state: &AppState, member: &Member, id: &AssetId, change: AssetChange) -> OpResult<AssetRow> {
    member.require_write()?;
    let label = match change.label {
        None => None,
        Some(l) => Some(check_label(l.as_deref()).map_err(|e| OpError::Invalid(vec![e]))?),
    };
    let interval = match change.monitor_interval_minutes {
        None => None,
        Some(m) => Some(check_interval(state, m).map_err(|e| OpError::Invalid(vec![e]))?),
    };
    let current = state.store.get_asset(&member.org_id, id).await?.ok_or(OpError::NotFound("asset"))?;
    let monitored = change.is_monitored.unwrap_or(current.is_monitored);
    let now = tlink_store::now_millis();
    let next_scan_at = match (current.is_monitored, monitored, interval) {
        (_, false, _) => Some(None),
        (false, true, _) => Some(Some(state.config.monitoring.first_scan_at(now))),
        (true, true, Some(new)) => {
            let minutes = match new {
                Some(m) => m,
                None => state.store.org_monitor_interval(&member.org_id).await?.unwrap_or(DEFAULT_INTERVAL_MINUTES),
            };
            let from = current.last_scanned_at.unwrap_or(now);
            Some(Some(state.config.monitoring.next_scan_at(from, minutes).max(now)))
        }
        (true, true, None) => None,
    };
    let patch =
        AssetPatch { label, is_monitored: change.is_monitored, monitor_interval_minutes: interval, next_scan_at };
    state.store.update_asset(&member.org_id, id, patch).await?.ok_or(OpError::NotFound("asset"))
}

/// Deletes an asset.
pub async fn delete_asset(state: &AppState, member: &Member, id: &AssetId) -> OpResult<()> {
    member.require_write()?;
    if state.store.delete_asset(&member.org_id, id).await? { Ok(()) } else { Err(OpError::NotFound("asset")) }
}
