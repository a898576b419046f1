//! Vulnerability suppressions: hide a CVE's findings for the whole organization or on one agent, and lift
//! that again. A suppression does not stop matching: it moves findings from the active lists to the
//! suppressed ones. Both changes are recorded in the audit log.
//!
//! The JSON API (Threat Stack's `/v2/vulnerabilities/{cve}/suppress`, whose callers carry no plan) and the
//! dashboard call these with a [`MemberRef`]: who acts, in which organization, with which role, from where.

use tlink_domain::{AgentId, OrgId};
use tlink_store::SuppressionRow;

use super::audit::{self, Change};
use super::{MemberRef, OpError, OpResult};
use crate::AppState;

/// The longest reason a suppression keeps, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// The longest CVE or advisory id, in bytes.
pub const MAX_CVE_LEN: usize = 100;

/// A CVE or advisory id as typed: letters, digits and `-_.:`, 1 to 100 of them (`CVE-2023-5363`,
/// `DSA-5532-1`, `GHSA-xxxx-xxxx-xxxx`). Kept as given: ids are stored as the advisories spell them.
pub fn cve_id(raw: &str) -> OpResult<String> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_CVE_LEN
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(OpError::field("cve", "must be a CVE or advisory id, e.g. CVE-2023-5363"))
    }
}

/// The reason of a suppression, trimmed: required, at most [`MAX_REASON_CHARS`] characters.
pub fn reason(raw: &str) -> OpResult<&str> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(OpError::field("reason", format!("is required, at most {MAX_REASON_CHARS} characters")));
    }
    Ok(reason)
}

/// The agent named by `raw` (an agent id), if one is named; another organization's or an unknown one is
/// not found.
async fn agent_of(state: &AppState, org: &OrgId, raw: Option<&str>) -> OpResult<Option<AgentId>> {
    let Some(raw) = raw else { return Ok(None) };
    let id = AgentId::parse(raw).map_err(|_| OpError::NotFound("agent"))?;
    state.store.get_agent(org, &id).await?.ok_or(OpError::NotFound("agent"))?;
    Ok(Some(id))
}

fn scope(agent: Option<&AgentId>) -> String {
    agent.map_or_else(|| "everywhere".to_string(), |a| format!("on agent {a}"))
}

/// Suppresses `cve` for the whole organization, or on the agent `agent` (an agent id) only, because of
/// `reason`; suppressing again replaces the reason. Writers only.
pub async fn suppress(
    state: &AppState,
    by: MemberRef<'_>,
    cve: &str,
    agent: Option<&str>,
    reason: &str,
) -> OpResult<SuppressionRow> {
    super::require_write(by.role)?;
    let cve = cve_id(cve)?;
    let reason = self::reason(reason)?;
    let agent = agent_of(state, by.org_id, agent).await?;
    let row = state.store.suppress_cve(by.org_id, &cve, agent.as_ref(), reason, Some(by.user_id)).await?;
    let c = Change {
        action: "vulnerability.suppressed",
        target_type: "vulnerability",
        target_id: &row.cve,
        summary: format!("suppressed {} {}: {}", row.cve, scope(agent.as_ref()), row.reason),
        detail: Some(
            serde_json::json!({"agentId": row.agent_id.as_ref().map(ToString::to_string), "reason": row.reason}),
        ),
    };
    audit::record_as(state, by.org_id, by.user_id, by.origin, c).await;
    Ok(row)
}

/// Lifts the suppression of `cve` for the whole organization, or the one on agent `agent`; not found when
/// there is no such suppression. Writers only.
pub async fn unsuppress(state: &AppState, by: MemberRef<'_>, cve: &str, agent: Option<&str>) -> OpResult<()> {
    super::require_write(by.role)?;
    let cve = cve_id(cve)?;
    let agent = agent_of(state, by.org_id, agent).await?;
    if !state.store.unsuppress_cve(by.org_id, &cve, agent.as_ref()).await? {
        return Err(OpError::NotFound("suppression"));
    }
    let c = Change {
        action: "vulnerability.unsuppressed",
        target_type: "vulnerability",
        target_id: &cve,
        summary: format!("lifted the suppression of {cve} {}", scope(agent.as_ref())),
        detail: None,
    };
    audit::record_as(state, by.org_id, by.user_id, by.origin, c).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_ids_are_checked_and_kept_as_spelled() {
        assert_eq!(cve_id("CVE-2023-5363").ok().as_deref(), Some("CVE-2023-5363"));
        assert_eq!(cve_id("GHSA-abcd-efgh-ijkl").ok().as_deref(), Some("GHSA-abcd-efgh-ijkl"));
        assert_eq!(cve_id("ALPINE:CVE-1_2.3").ok().as_deref(), Some("ALPINE:CVE-1_2.3"));
        let long = "C".repeat(101);
        for bad in ["", "CVE 2023", "CVE-2023/1", "<x>", long.as_str()] {
            match cve_id(bad) {
                Err(OpError::Invalid(e)) => assert_eq!(e[0].field, "cve", "{bad}"),
                other => panic!("{bad:?} accepted: {other:?}"),
            }
        }
        assert!(cve_id(&"C".repeat(100)).is_ok());
    }

    #[test]
    fn a_reason_is_required_and_trimmed() {
        assert_eq!(reason("  not reachable  ").ok(), Some("not reachable"));
        assert!(matches!(reason(" \n "), Err(OpError::Invalid(_))));
        assert!(reason(&"é".repeat(1000)).is_ok(), "characters, not bytes");
        assert!(reason(&"x".repeat(1001)).is_err());
    }

    #[test]
    fn the_scope_names_the_agent() {
        assert_eq!(scope(None), "everywhere");
        let id = AgentId::new();
        assert_eq!(scope(Some(&id)), format!("on agent {id}"));
    }
}
