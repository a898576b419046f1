//! Host agents: enrollment tokens (owners and admins create one — shown once, with the `tlink agent`
//! command line to run on a host — and revoke one; everyone sees the live ones), the agents with their
//! online state, and one agent's facts, vulnerability findings, addresses, packages and listening ports,
//! each table filtered on the server. Reads go through the same store methods as `/api/orgs/{orgId}/agents`;
//! changes through [`crate::ops::agents`] and, for suppressions, the vulnerability pages' forms.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tlink_domain::{Addresses, AgentId, EnrollmentId, Package, Port};
use tlink_store::{AgentRow, EnrollmentRow, PageQuery as StorePage, decode_json};

use super::form::CsrfForm;
use super::page::{Chrome, FieldErrors, Nav, PageQuery, Time, WebError, render, render_status, see_other};
use super::session::OrgSession;
use super::vulns::{back_query, suppression_flash};
use crate::AppState;
use crate::http::pagination;
use crate::ops::agents::{IssuedEnrollment, is_online, online_since};

/// Live enrollment tokens listed (an organization needs a handful; the list says when there are more).
const TOKENS_SHOWN: u32 = 100;
/// Rows shown in one of an agent's tables; a filter finds the rest.
pub const MAX_ROWS: usize = 500;

/// The server's origin as the browser reached it, for the command line a host runs: `Host` when it is a
/// plain host name or address (with a port), else a placeholder to replace.
pub fn server_origin(host: Option<&str>, https: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    match host {
        Some(h)
            if !h.is_empty()
                && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')) =>
        {
            format!("{scheme}://{h}")
        }
        _ => format!("{scheme}://tlink.example.com"),
    }
}

/// "5 minutes", "90 seconds", "2 hours": how long an agent may stay silent and still be online.
pub fn duration_text(secs: u64) -> String {
    let (n, unit) = if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// An agent as the lists show it.
pub struct AgentItem {
    pub row: AgentRow,
    pub online: bool,
    pub last_seen: Time,
    pub enrolled: Time,
}

impl AgentItem {
    fn new(row: AgentRow, since: i64) -> AgentItem {
        AgentItem {
            online: is_online(&row, since),
            last_seen: Time::at(row.last_reported_at),
            enrolled: Time::at(row.created_at),
            row,
        }
    }
}

/// A live enrollment token.
pub struct TokenItem {
    pub row: EnrollmentRow,
    pub created: Time,
}

/// A token just made, shown once with the line to run.
pub struct NewToken {
    pub name: String,
    pub token: String,
    pub server: String,
    pub command: String,
}

fn shown(issued: IssuedEnrollment, server: String) -> NewToken {
    let command = format!("tlink agent --server {server} --token {}", issued.token);
    NewToken { name: issued.row.name, token: issued.token, server, command }
}

#[derive(Template)]
#[template(path = "agents/list.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    /// Owners and admins create and revoke tokens.
    can_enroll: bool,
    tokens: Vec<TokenItem>,
    more_tokens: bool,
    fresh: Option<NewToken>,
    errors: FieldErrors,
    name: String,
    /// The status filter: empty, `online` or `offline`.
    status: &'static str,
    agents: Vec<AgentItem>,
    next: Option<String>,
    offline_after: String,
}

/// The status filter as read from the query (anything else is no filter).
fn status_of(q: &PageQuery) -> &'static str {
    match q.get("status") {
        Some("online") => "online",
        Some("offline") => "offline",
        _ => "",
    }
}

async fn list_page(
    state: &AppState,
    s: &OrgSession,
    q: &PageQuery,
    fresh: Option<NewToken>,
    errors: FieldErrors,
    name: String,
) -> Result<ListPage, WebError> {
    let org = s.org_id();
    let tokens = state.store.list_enrollments(org, &StorePage::first(TOKENS_SHOWN)).await?;
    let status = status_of(q);
    let mut chrome = Chrome::new(s, Nav::Agents, "Agents")
        .flash(q.get("done"), &[("revoked", "Enrollment token revoked: hosts using it can no longer report.")]);
    let since = online_since(state);
    let online = match status {
        "online" => Some(true),
        "offline" => Some(false),
        _ => None,
    };
    let list = format!("web-agents:{org}");
    let (agents, next) = match pagination::parse(
        &q.map(),
        &state.keys.cursor_key,
        &list,
        &[("status", Some(status).filter(|s| !s.is_empty()))],
    ) {
        Ok(params) => {
            let page = state.store.list_agents(org, online, since, &params.page).await?;
            let next = params.token(page.next).map(|t| q.with_token(&s.url("/agents"), &t));
            (page.items.into_iter().map(|a| AgentItem::new(a, since)).collect(), next)
        }
        Err(e) => {
            chrome = chrome.error(format!("Cannot show this page: {e}"));
            (Vec::new(), None)
        }
    };
    Ok(ListPage {
        chrome,
        base: s.url(""),
        can_enroll: s.role().can_manage_members(),
        more_tokens: tokens.next.is_some(),
        tokens: tokens.items.into_iter().map(|row| TokenItem { created: Time::at(row.created_at), row }).collect(),
        fresh,
        errors,
        name,
        status,
        agents,
        next,
        offline_after: duration_text(state.config.agent_offline_after_secs),
    })
}

/// `GET /orgs/{org}/agents?status=online|offline&token=`.
pub async fn list(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    Ok(render(&list_page(&state, &s, &q, None, FieldErrors::default(), String::new()).await?))
}

/// `POST /orgs/{org}/agents`: `name`. Answers with the page showing the new token once (not a redirect:
/// the token is never stored and cannot be shown again).
pub async fn create(
    State(state): State<AppState>,
    s: OrgSession,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let name = form.get("name").unwrap_or("").to_string();
    let q = PageQuery::default();
    match crate::ops::agents::create_enrollment(&state, &s.member(), &name).await {
        Ok(issued) => {
            let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
            let server = server_origin(host, state.config.web.secure_cookies);
            let p =
                list_page(&state, &s, &q, Some(shown(issued, server)), FieldErrors::default(), String::new()).await?;
            let mut r = render(&p);
            r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            Ok(r)
        }
        Err(e) => {
            let errors = FieldErrors::from_op(e)?;
            let p = list_page(&state, &s, &q, None, errors, name).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}

/// `POST /orgs/{org}/agents/enrollments/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let id = EnrollmentId::parse(&id).map_err(|_| WebError::NotFound)?;
    crate::ops::agents::revoke_enrollment(&state, &s.member(), &id).await?;
    Ok(see_other(&s.url("/agents?done=revoked")))
}

/// Whether every word of `q` (any case) is in one of `fields`.
pub fn words_match(q: &str, fields: &[&str]) -> bool {
    let fields: Vec<String> = fields.iter().map(|f| f.to_lowercase()).collect();
    q.split_whitespace().map(str::to_lowercase).all(|w| fields.iter().any(|f| f.contains(&w)))
}

/// Whether a listening socket matches `q`: a number is the port exactly, any other word is in its protocol
/// or address.
pub fn port_matches(p: &Port, q: &str) -> bool {
    q.split_whitespace().all(|w| match w.parse::<u16>() {
        Ok(n) => p.port == n,
        Err(_) => words_match(w, &[&p.protocol, &p.address]),
    })
}

/// The rows of `items` that `keep` accepts, at most [`MAX_ROWS`], and how many it accepts in all.
pub fn filtered<T>(items: Vec<T>, keep: impl Fn(&T) -> bool) -> (Vec<T>, usize) {
    let mut shown = Vec::new();
    let mut total = 0;
    for item in items {
        if keep(&item) {
            total += 1;
            if shown.len() < MAX_ROWS {
                shown.push(item);
            }
        }
    }
    (shown, total)
}

/// The detail page's table filters (query parameter, the table's anchor), in the page's order.
pub const TABLE_FILTERS: [(&str, &str); 4] =
    [("vuln", "vulnerabilities"), ("addr", "addresses"), ("pkg", "packages"), ("port", "ports")];

/// One table's filter on the detail page: its value, the others (kept as hidden fields when it is
/// submitted) and the link that clears it.
pub struct TableFilter {
    pub name: &'static str,
    /// The id of the table's section.
    pub anchor: &'static str,
    pub value: String,
    pub hidden: Vec<(&'static str, String)>,
    pub clear: String,
}

/// The filter `name` of the page at `path` whose filters are `q`.
pub fn table_filter(path: &str, q: &PageQuery, name: &'static str) -> TableFilter {
    let anchor = TABLE_FILTERS.iter().find(|(n, _)| *n == name).map_or(name, |(_, a)| *a);
    let hidden: Vec<(&'static str, String)> = TABLE_FILTERS
        .iter()
        .filter(|(n, _)| *n != name)
        .filter_map(|(n, _)| q.get(n).map(|v| (*n, v.to_string())))
        .collect();
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &hidden {
        s.append_pair(k, v);
    }
    let rest = s.finish();
    let clear = if rest.is_empty() { format!("{path}#{anchor}") } else { format!("{path}?{rest}#{anchor}") };
    TableFilter { name, anchor, value: q.get(name).unwrap_or("").to_string(), hidden, clear }
}

/// An address of the host, with its kind.
pub struct AddressView {
    pub kind: &'static str,
    pub address: String,
}

fn addresses(a: &Addresses) -> Vec<AddressView> {
    let kinds: [(&'static str, &Vec<String>); 3] =
        [("public", &a.public), ("private", &a.private), ("link-local", &a.link_local)];
    kinds
        .into_iter()
        .flat_map(|(kind, list)| list.iter().map(move |address| AddressView { kind, address: address.clone() }))
        .collect()
}

/// A vulnerability finding on the host.
pub struct FindingView {
    pub cve: String,
    pub severity: String,
    pub severity_level: i64,
    pub package: String,
    pub binary_name: String,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub first_seen: Time,
    pub suppressed: bool,
}

/// A table of the detail page: its filter, the rows shown and how many matched.
pub struct Table<T> {
    pub filter: TableFilter,
    pub rows: Vec<T>,
    pub total: usize,
    /// Rows before filtering.
    pub all: usize,
}

#[derive(Template)]
#[template(path = "agents/detail.html")]
struct DetailPage {
    chrome: Chrome,
    base: String,
    a: AgentItem,
    tags: Vec<(String, String)>,
    /// Whether the agent has sent its inventory (packages and ports) yet.
    has_inventory: bool,
    findings: Table<FindingView>,
    addresses: Table<AddressView>,
    packages: Table<Package>,
    ports: Table<Port>,
    /// Where the suppression forms come back to.
    back: String,
}

#[derive(serde::Deserialize)]
struct Tag {
    key: String,
    value: String,
}

/// `GET /orgs/{org}/agents/{id}?vuln=&addr=&pkg=&port=`.
pub async fn detail(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    q: PageQuery,
) -> Result<Response, WebError> {
    let id = AgentId::parse(&id).map_err(|_| WebError::NotFound)?;
    let org = s.org_id();
    let row = state.store.get_agent(org, &id).await?.ok_or(WebError::NotFound)?;
    let rid = row.id.as_str();
    let addrs: Addresses = decode_json("agents", rid, "ip_addresses", &row.ip_addresses)?;
    let mut packages: Vec<Package> = decode_json("agents", rid, "packages", &row.packages)?;
    let mut ports: Vec<Port> = decode_json("agents", rid, "ports", &row.ports)?;
    let tags: Vec<Tag> = decode_json("agents", rid, "tags", &row.tags)?;
    packages.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    ports.sort_by(|a, b| {
        a.port.cmp(&b.port).then_with(|| a.protocol.cmp(&b.protocol)).then_with(|| a.address.cmp(&b.address))
    });
    let suppressed = state.store.suppressed_cves(org, &id).await?;
    let mut findings: Vec<FindingView> = state
        .store
        .agent_findings(org, &id)
        .await?
        .into_iter()
        .map(|r| FindingView {
            suppressed: suppressed.contains(&r.finding.cve),
            first_seen: Time::at(r.first_seen_at),
            cve: r.finding.cve,
            severity: r.finding.severity,
            severity_level: r.finding.severity_level,
            package: r.finding.package,
            binary_name: r.finding.binary_name,
            installed_version: r.finding.installed_version,
            fixed_version: r.finding.fixed_version,
        })
        .collect();
    findings.sort_by(|a, b| b.severity_level.cmp(&a.severity_level).then_with(|| a.cve.cmp(&b.cve)));

    let path = s.url(&format!("/agents/{id}"));
    let table = |name: &'static str| table_filter(&path, &q, name);
    let (vuln, addr, pkg, port) = (table("vuln"), table("addr"), table("pkg"), table("port"));
    let address_list = addresses(&addrs);
    let (n_findings, n_addresses, n_packages, n_ports) =
        (findings.len(), address_list.len(), packages.len(), ports.len());
    let (finding_rows, finding_total) = filtered(findings, |f| {
        words_match(&vuln.value, &[&f.cve, &f.package, &f.binary_name, &f.severity, &f.installed_version])
    });
    let (address_rows, address_total) = filtered(address_list, |a| words_match(&addr.value, &[a.kind, &a.address]));
    let (package_rows, package_total) = filtered(packages, |p| {
        words_match(&pkg.value, &[&p.name, p.source.as_deref().unwrap_or(""), &p.version, &p.manager])
    });
    let (port_rows, port_total) = filtered(ports, |p| port_matches(p, &port.value));
    let back_q = back_query(&q);
    let back =
        if back_q.is_empty() { format!("{path}#vulnerabilities") } else { format!("{path}?{back_q}#vulnerabilities") };
    let mut chrome = suppression_flash(Chrome::new(&s, Nav::Agents, "Agent"), &q);
    chrome.title = format!("Agent {}", row.hostname);
    Ok(render(&DetailPage {
        chrome,
        base: s.url(""),
        tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
        has_inventory: row.inventory_digest.is_some(),
        a: AgentItem::new(row, online_since(&state)),
        findings: Table { filter: vuln, rows: finding_rows, total: finding_total, all: n_findings },
        addresses: Table { filter: addr, rows: address_rows, total: address_total, all: n_addresses },
        packages: Table { filter: pkg, rows: package_rows, total: package_total, all: n_packages },
        ports: Table { filter: port, rows: port_rows, total: port_total, all: n_ports },
        back,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_this_server() {
        assert_eq!(server_origin(Some("tlink.example.org:8443"), true), "https://tlink.example.org:8443");
        assert_eq!(server_origin(Some("[::1]:8080"), false), "http://[::1]:8080");
        assert_eq!(server_origin(Some("a b;rm -rf /"), false), "http://tlink.example.com");
        assert_eq!(server_origin(Some(""), false), "http://tlink.example.com");
        assert_eq!(server_origin(None, true), "https://tlink.example.com");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(300), "5 minutes");
        assert_eq!(duration_text(60), "1 minute");
        assert_eq!(duration_text(7200), "2 hours");
        assert_eq!(duration_text(90), "90 seconds");
        assert_eq!(duration_text(1), "1 second");
        assert_eq!(duration_text(0), "0 seconds");
    }

    #[test]
    fn every_word_must_match_a_field() {
        assert!(words_match("", &["anything"]));
        assert!(words_match("SSL", &["libssl3", "3.0"]));
        assert!(words_match("open 3.0", &["openssl", "3.0.11"]));
        assert!(!words_match("open 1.1", &["openssl", "3.0.11"]));
    }

    #[test]
    fn a_number_is_a_port_exactly() {
        let p = Port { protocol: "tcp".into(), address: "0.0.0.0".into(), port: 2222 };
        assert!(!port_matches(&p, "22"));
        assert!(port_matches(&p, "2222"));
        assert!(port_matches(&p, "TCP 2222"));
        assert!(!port_matches(&p, "udp"));
        assert!(port_matches(&p, "0.0.0"));
        assert!(port_matches(&p, ""));
    }

    #[test]
    fn filtering_counts_everything_but_shows_at_most_the_cap() {
        let (rows, total) = filtered((0..MAX_ROWS + 10).collect::<Vec<_>>(), |n| n % 2 == 0);
        assert_eq!(total, (MAX_ROWS + 10).div_ceil(2));
        assert_eq!(rows.len(), total.min(MAX_ROWS));
        assert!(rows.iter().all(|n| n % 2 == 0));
    }

    #[test]
    fn a_table_filter_keeps_the_others() {
        let q =
            PageQuery(vec![("pkg".into(), "open ssl".into()), ("port".into(), "22".into()), ("x".into(), "y".into())]);
        let f = table_filter("/orgs/o/agents/a", &q, "pkg");
        assert_eq!(f.value, "open ssl");
        assert_eq!(f.hidden, vec![("port", "22".to_string())]);
        assert_eq!((f.anchor, f.clear.as_str()), ("packages", "/orgs/o/agents/a?port=22#packages"));
        let g = table_filter("/orgs/o/agents/a", &q, "port");
        assert_eq!(g.hidden, vec![("pkg", "open ssl".to_string())]);
        assert_eq!(g.clear, "/orgs/o/agents/a?pkg=open+ssl#ports");
        let alone = table_filter("/p", &PageQuery::default(), "vuln");
        assert_eq!((alone.value.as_str(), alone.clear.as_str()), ("", "/p#vulnerabilities"));
    }

    #[test]
    fn addresses_are_listed_by_kind() {
        let a = Addresses {
            private: vec!["10.0.0.2".into()],
            link_local: vec!["fe80::1".into()],
            public: vec!["203.0.113.9".into()],
        };
        let list = addresses(&a);
        let v: Vec<(&str, &str)> = list.iter().map(|x| (x.kind, x.address.as_str())).collect();
        assert_eq!(v, [("public", "203.0.113.9"), ("private", "10.0.0.2"), ("link-local", "fe80::1")]);
    }
}
