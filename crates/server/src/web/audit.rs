//! The audit trail: who changed what in the organization (API keys, members, alert rules, the plan, alert
//! statuses, vulnerability suppressions), newest first, filtered by action and by kind of thing changed,
//! for owners and admins. Read-only, like `GET /api/orgs/{orgId}/audit-log`, with the same store filter.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tlink_store::{AuditFilter, AuditRow};

use super::page::{Chrome, Nav, PageQuery, Time, WebError, render};
use super::session::OrgSession;
use crate::AppState;
use crate::http::pagination;

/// The actions the operations record, `resource.verb`.
pub const ACTIONS: [&str; 18] = [
    "api_key.created",
    "api_key.rotated",
    "api_key.revoked",
    "member.added",
    "member.role_changed",
    "member.removed",
    "member.alert_email_changed",
    "rule.created",
    "rule.updated",
    "rule.deleted",
    "rule.secret_rotated",
    "plan.changed",
    "settings.monitor_interval_changed",
    "alert.status_changed",
    "vulnerability.suppressed",
    "vulnerability.unsuppressed",
    "agent_enrollment.created",
    "agent_enrollment.revoked",
];

/// The kinds of things changed.
pub const TARGET_TYPES: [&str; 8] =
    ["api_key", "member", "rule", "plan", "alert", "vulnerability", "agent_enrollment", "organization"];

/// The trail's filters, as read from the query (a value the page does not offer is ignored).
#[derive(Default)]
pub struct Filters {
    pub action: String,
    pub target_type: String,
}

impl Filters {
    fn read(q: &PageQuery) -> Filters {
        let pick = |k: &str, allowed: &[&str]| q.get(k).filter(|v| allowed.contains(v)).unwrap_or_default().to_string();
        Filters { action: pick("action", &ACTIONS), target_type: pick("targetType", &TARGET_TYPES) }
    }

    fn opt(v: &str) -> Option<String> {
        Some(v.to_string()).filter(|v| !v.is_empty())
    }

    fn store(&self) -> AuditFilter {
        AuditFilter { action: Self::opt(&self.action), actor_user_id: None, target_type: Self::opt(&self.target_type) }
    }

    fn any(&self) -> bool {
        !self.action.is_empty() || !self.target_type.is_empty()
    }
}

/// An entry as the table shows it.
pub struct Entry {
    pub row: AuditRow,
    pub at: Time,
}

impl From<AuditRow> for Entry {
    fn from(row: AuditRow) -> Self {
        Entry { at: Time::at(row.created_at), row }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    base: String,
    f: Filters,
    actions: [&'static str; 18],
    target_types: [&'static str; 8],
    items: Vec<Entry>,
    next: Option<String>,
}

/// `GET /orgs/{org}/audit?action=&targetType=&token=` (owners and admins).
pub async fn page(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    if !s.role().can_manage_members() {
        return Err(WebError::Forbidden(
            "Only the organization's owners and admins can read its audit trail. Ask one of them if you need to \
             know who changed something."
                .into(),
        ));
    }
    let f = Filters::read(&q);
    let (action, target_type) = (Filters::opt(&f.action), Filters::opt(&f.target_type));
    let filters = [("action", action.as_deref()), ("targetType", target_type.as_deref())];
    let list = format!("web-audit:{}", s.org_id());
    let mut chrome = Chrome::new(&s, Nav::Audit, "Audit trail");
    let (items, next) = match pagination::parse(&q.map(), &state.keys.cursor_key, &list, &filters) {
        Ok(params) => {
            let page = state.store.list_audit(s.org_id(), &f.store(), &params.page).await?;
            let next = params.token(page.next).map(|t| q.with_token(&s.url("/audit"), &t));
            (page.items.into_iter().map(Entry::from).collect(), next)
        }
        Err(e) => {
            chrome = chrome.error(format!("Cannot show this page: {e}"));
            (Vec::new(), None)
        }
    };
    Ok(render(&AuditPage { chrome, base: s.url(""), f, actions: ACTIONS, target_types: TARGET_TYPES, items, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_keep_only_offered_values() {
        let q = PageQuery(vec![("action".into(), "member.added".into()), ("targetType".into(), "<script>".into())]);
        let f = Filters::read(&q);
        assert_eq!(f.action, "member.added");
        assert_eq!(f.target_type, "");
        let store = f.store();
        assert_eq!(store.action.as_deref(), Some("member.added"));
        assert_eq!(store.target_type, None);
        assert!(f.any());
        assert!(!Filters::read(&PageQuery::default()).any());
    }
}
