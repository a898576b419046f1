//! Agents: record a host's report, and match a new inventory against the advisories at once.

use tlink_domain::{EnrollmentId, OrgId};
use tlink_store::{AgentReport, AgentRow};

use super::OpResult;
use crate::AppState;

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
