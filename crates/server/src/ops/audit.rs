//! The audit log: who changed what in an organization, recorded by the operations that change it (keys,
//! members, rules, plans, alert statuses, vulnerability suppressions) whichever front end asked — the JSON
//! API, the dashboard or the command line. Entries are only ever appended: no operation changes or deletes
//! one, and they go only with their organization.

use tlink_domain::{ApiKeyId, OrgId, UserId};
use tlink_store::{NewAuditEntry, PageQuery};

use super::{Actor, Member};
use crate::AppState;

pub use super::{Origin, Source};

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// `resource.verb`: `api_key.created`, `member.role_changed`, …
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    /// A sentence for people: "changed bob@example.com's role from MEMBER to ADMIN".
    pub summary: String,
    pub detail: Option<serde_json::Value>,
}

/// Records `change`, made by `member`, in their organization. A failure to record is logged, not
/// returned: the change itself has already happened.
pub async fn record(state: &AppState, member: &Member, change: Change<'_>) {
    record_in(state, std::slice::from_ref(&member.org_id), Some(&member.user_id), &member.origin, change).await;
}

/// Records `change`, made by `actor`, in `org` (plans: an operator acts on any organization).
pub async fn record_by(state: &AppState, actor: &Actor, org: &OrgId, change: Change<'_>) {
    match actor {
        Actor::Member(m) => record_in(state, std::slice::from_ref(org), Some(&m.user_id), &m.origin, change).await,
        Actor::Operator(user) => {
            let origin = Origin { source: if user.is_some() { Source::Api } else { Source::Cli }, ..Origin::default() };
            record_in(state, std::slice::from_ref(org), user.as_ref(), &origin, change).await;
        }
    }
}

/// Records `change`, made by `user` from `origin`, in `org` (the Threat Stack routes, whose callers carry
/// no plan).
pub async fn record_as(state: &AppState, org: &OrgId, user: &UserId, origin: &Origin, change: Change<'_>) {
    record_in(state, std::slice::from_ref(org), Some(user), origin, change).await;
}

/// Records a change to a user's own API keys in every organization the user belongs to: a key acts in
/// all of them.
pub async fn record_for_user(state: &AppState, user: &UserId, origin: &Origin, change: Change<'_>) {
    match state.store.all_orgs_for_user(user, 1000).await {
        Ok(orgs) => {
            let orgs: Vec<OrgId> = orgs.into_iter().map(|o| o.id).collect();
            record_in(state, &orgs, Some(user), origin, change).await;
        }
        Err(e) => tracing::error!(error = %e, action = change.action, "recording an audit entry failed"),
    }
}

async fn record_in(state: &AppState, orgs: &[OrgId], user: Option<&UserId>, origin: &Origin, change: Change<'_>) {
    let actor = match user {
        Some(u) => state.store.user_by_id(u).await.ok().flatten().map_or_else(|| u.to_string(), |row| row.email),
        None => "tlink (command line)".to_string(),
    };
    let key_prefix = match (&origin.key, user) {
        (Some(key), Some(u)) => key_prefix(state, u, key).await,
        _ => None,
    };
    let detail = change.detail.as_ref().map(serde_json::Value::to_string);
    let entries = orgs
        .iter()
        .map(|org| NewAuditEntry {
            org_id: org.clone(),
            actor_user_id: user.cloned(),
            actor: actor.clone(),
            actor_key_prefix: key_prefix.clone(),
            action: change.action.to_string(),
            target_type: change.target_type.to_string(),
            target_id: change.target_id.to_string(),
            summary: change.summary.clone(),
            client_ip: origin.client_ip.map(|ip| ip.to_string()),
            detail: detail.clone(),
            source: origin.source.as_str().to_string(),
        })
        .collect();
    if let Err(e) = state.store.record_audit_many(entries).await {
        tracing::error!(error = %e, action = change.action, "recording an audit entry failed");
    }
}

/// The visible prefix of one of `user`'s keys (also a key revoked a moment ago: its row is still there).
async fn key_prefix(state: &AppState, user: &UserId, key: &ApiKeyId) -> Option<String> {
    let page = PageQuery { limit: 100, after: None, from: None, until: None };
    let keys = state.store.list_api_keys(user, &page).await.ok()?;
    keys.items.into_iter().find(|k| &k.id == key).map(|k| k.prefix)
}
