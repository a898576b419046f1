//! Agents: enrollment tokens (create one, shown once; revoke one), record a host's report and match a new
//! inventory against the advisories at once, and tell whether an agent is online.

use tlink_domain::{EnrollmentId, OrgId};
use tlink_store::{AgentReport, AgentRow, EnrollmentRow, NewEnrollment};

use super::audit::{self, Change};
use super::{Member, OpError, OpResult};
use crate::AppState;
use crate::credentials::{random_token, sha256_hex};

/// What every enrollment token starts with.
pub const TOKEN_PREFIX: &str = "tlagent_";
/// Random characters after the prefix.
pub const TOKEN_RANDOM_LEN: usize = 40;
/// The token's visible part (prefix and the first random characters), stored to find the token by.
pub const TOKEN_VISIBLE_LEN: usize = 14;
/// The longest name an enrollment token may have, in characters.
pub const MAX_ENROLLMENT_NAME_CHARS: usize = 100;

/// An enrollment token as made: its row, and the full token, which is shown this once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedEnrollment {
    pub row: EnrollmentRow,
    pub token: String,
}

/// Forbidden unless the member may manage the organization (owner or admin): an enrollment token lets
/// hosts join it.
fn require_admin(member: &Member) -> OpResult<()> {
    if member.role.can_manage_members() {
        Ok(())
    } else {
        Err(OpError::Forbidden(format!("role {} may not manage this organization", member.role.as_str())))
    }
}

/// Creates an enrollment token named `name` (trimmed, 1–100 characters) in the member's organization
/// (owners and admins). The token can do one thing: report a host's inventory.
pub async fn create_enrollment(state: &AppState, member: &Member, name: &str) -> OpResult<IssuedEnrollment> {
    require_admin(member)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_ENROLLMENT_NAME_CHARS {
        return Err(OpError::field("name", format!("must be 1 to {MAX_ENROLLMENT_NAME_CHARS} characters")));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_token(TOKEN_RANDOM_LEN));
    let new = NewEnrollment {
        name: name.to_string(),
        prefix: token[..TOKEN_VISIBLE_LEN].to_string(),
        token_hash: sha256_hex(&token),
    };
    let row = state.store.create_enrollment(&member.org_id, new).await?;
    let c = Change {
        action: "agent_enrollment.created",
        target_type: "agent_enrollment",
        target_id: row.id.as_str(),
        summary: format!("created the agent enrollment token “{}” ({}…)", row.name, row.prefix),
        detail: None,
    };
    audit::record(state, member, c).await;
    Ok(IssuedEnrollment { row, token })
}

/// Revokes one of the organization's enrollment tokens at once (owners and admins): hosts reporting with
/// it are refused from then on; the agents already seen stay listed.
pub async fn revoke_enrollment(state: &AppState, member: &Member, id: &EnrollmentId) -> OpResult<()> {
    require_admin(member)?;
    if !state.store.revoke_enrollment(&member.org_id, id).await? {
        return Err(OpError::NotFound("enrollment token"));
    }
    let c = Change {
        action: "agent_enrollment.revoked",
        target_type: "agent_enrollment",
        target_id: id.as_str(),
        summary: format!("revoked the agent enrollment token {id}"),
        detail: None,
    };
    audit::record(state, member, c).await;
    Ok(())
}

/// The instant (unix ms) after which an agent must have reported to be online: `agent_offline_after_secs`
/// ago.
pub fn online_since(state: &AppState) -> i64 {
    since(tlink_store::now_millis(), state.config.agent_offline_after_secs)
}

/// `now` less `offline_after_secs`, saturating.
fn since(now: i64, offline_after_secs: u64) -> i64 {
    let window = i64::try_from(offline_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    now.saturating_sub(window)
}

/// Whether `agent` reported at or after `since` (see [`online_since`]).
pub fn is_online(agent: &AgentRow, since: i64) -> bool {
    agent.last_reported_at >= since
}

/// Records an agent's report under its enrollment. Returns the agent and whether the server wants its
/// full inventory next time. A report with an inventory is matched against the advisories at once; a
/// failed match is logged, the report stays recorded, and the match runs again with the next inventory or
/// advisory import.
pub async fn record_report(
    state: &AppState,
    org: &OrgId,
    enrollment: &EnrollmentId,
    report: &AgentReport,
) -> OpResult<(AgentRow, bool)> {
    let (agent, need_inventory) = state.store.record_report(org, enrollment, report).await?;
    if report.inventory.is_some() {
        match crate::jobs::vulns::match_agent(state, &agent).await {
            Ok(m) => {
                tracing::debug!(agent = %agent.id, findings = m.findings, new = m.new, alerts = m.alerts, "agent matched")
            }
            Err(e) => tracing::error!(agent = %agent.id, error = format!("{e:#}"), "vulnerability matching failed"),
        }
    }
    Ok((agent, need_inventory))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_online_window_saturates() {
        assert_eq!(super::since(10_000, 3), 7_000);
        assert_eq!(super::since(10_000, 0), 10_000);
        assert_eq!(super::since(10_000, u64::MAX), 10_000 - i64::MAX);
        assert_eq!(super::since(i64::MIN + 5, 1), i64::MIN);
    }
}
