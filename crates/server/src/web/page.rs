//! The page frame every dashboard page shares, errors as pages, and small views (times, JSON trees).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::Value;
use tlink_domain::format_millis;

use super::session::OrgSession;
use crate::ops::OpError;

pub use super::error::{WebError, not_found};

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Assets,
    Tools,
    Alerts,
    Rules,
    Agents,
    Vulns,
    Keys,
    AppKeys,
    Usage,
    Members,
    Settings,
    Audit,
}

/// A navigation link.
pub struct NavLink {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// An organization in the switcher.
pub struct OrgChoice {
    pub id: String,
    pub name: String,
    pub current: bool,
}

/// A message shown once at the top of a page (after a redirect: `?done=<code>`).
pub struct Flash {
    pub kind: &'static str,
    pub text: String,
}

/// The frame around a page: title, navigation, organization switcher, the signed-in user, CSRF token.
pub struct Chrome {
    pub title: String,
    pub email: String,
    pub csrf: String,
    pub org_id: String,
    pub org_name: String,
    pub role: &'static str,
    pub can_write: bool,
    pub nav: Vec<NavLink>,
    pub orgs: Vec<OrgChoice>,
    pub flash: Option<Flash>,
    /// The static files' version, for their URLs.
    pub v: &'static str,
}

impl Chrome {
    pub fn new(s: &OrgSession, nav: Nav, title: impl Into<String>) -> Chrome {
        let links = [
            (Nav::Overview, "", "Overview"),
            (Nav::Assets, "/assets", "Assets"),
            (Nav::Tools, "/tools", "Tools"),
            (Nav::Alerts, "/alerts", "Alerts"),
            (Nav::Rules, "/rules", "Rules"),
            (Nav::Agents, "/agents", "Agents"),
            (Nav::Vulns, "/vulnerabilities", "Vulnerabilities"),
            (Nav::Keys, "/keys", "API keys"),
            (Nav::AppKeys, "/application-keys", "Application keys"),
            (Nav::Usage, "/usage", "Usage"),
            (Nav::Members, "/members", "Members"),
            (Nav::Settings, "/settings", "Settings"),
            (Nav::Audit, "/audit", "Audit trail"),
        ];
        Chrome {
            title: title.into(),
            email: s.session.user.email.clone(),
            csrf: s.session.csrf.clone(),
            org_id: s.org.id.to_string(),
            org_name: s.org.name.clone(),
            role: s.role().as_str(),
            can_write: s.can_write(),
            nav: links
                .into_iter()
                // The audit trail is for owners and admins.
                .filter(|(n, ..)| *n != Nav::Audit || s.role().can_manage_members())
                .map(|(n, p, label)| NavLink { href: s.url(p), label, current: n == nav })
                .collect(),
            orgs: s
                .orgs
                .iter()
                .map(|o| OrgChoice { id: o.id.to_string(), name: o.name.clone(), current: o.id == s.org.id })
                .collect(),
            flash: None,
            v: version(),
        }
    }

    /// With the message for `done` (a fixed code from a redirect), if it is one this page knows.
    pub fn flash(mut self, done: Option<&str>, messages: &[(&str, &str)]) -> Chrome {
        self.flash = done
            .and_then(|d| messages.iter().find(|(code, _)| *code == d))
            .map(|(_, text)| Flash { kind: "ok", text: (*text).to_string() });
        self
    }

    /// With an error message at the top.
    pub fn error(mut self, text: impl Into<String>) -> Chrome {
        self.flash = Some(Flash { kind: "error", text: text.into() });
        self
    }
}

pub fn version() -> &'static str {
    super::assets::VERSION.as_str()
}

/// An instant, shown in UTC by the server and in the reader's time zone by the script.
#[derive(Debug, Clone)]
pub struct Time {
    pub iso: String,
    pub text: String,
}

impl Time {
    pub fn at(ms: i64) -> Time {
        let iso = format_millis(ms);
        let text = tlink_domain::from_millis(ms).format("%Y-%m-%d %H:%M UTC").to_string();
        Time { iso, text }
    }

    pub fn opt(ms: Option<i64>) -> Option<Time> {
        ms.map(Time::at)
    }
}

/// Renders a template, or the error page if it cannot be.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => WebError::Internal(anyhow::Error::new(e).context("rendering a page")).into_response(),
    }
}

/// A page with a status other than 200 (a form shown again with its errors: 422).
pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    let mut r = render(t);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

/// `303 See Other` to `to` (after a form).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A server-sent event stream fed by a task through a small channel; the task stops when the client goes
/// away (its next send fails).
pub fn event_stream<F, Fut>(
    f: F,
) -> impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<axum::response::sse::Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) })
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as nested, collapsible `<details>` (escaped HTML; objects and arrays open two levels deep).
pub fn json_tree(v: &Value) -> String {
    let mut out = String::new();
    node(&mut out, None, v, 0);
    out
}

fn node(out: &mut String, key: Option<&str>, v: &Value, depth: usize) {
    let key_html = key.map(|k| format!("<span class=\"json-key\">{}</span>", escape(k))).unwrap_or_default();
    match v {
        Value::Object(map) if !map.is_empty() => {
            container(out, &key_html, "object", map.len(), depth, |out| {
                for (k, child) in map {
                    node(out, Some(k), child, depth + 1);
                }
            });
        }
        Value::Array(items) if !items.is_empty() => {
            container(out, &key_html, "array", items.len(), depth, |out| {
                for (i, child) in items.iter().enumerate() {
                    node(out, Some(&i.to_string()), child, depth + 1);
                }
            });
        }
        leaf => {
            let (class, text) = match leaf {
                Value::String(s) => ("json-str", format!("\"{}\"", escape(s))),
                Value::Number(n) => ("json-num", n.to_string()),
                Value::Bool(b) => ("json-bool", b.to_string()),
                Value::Null => ("json-null", "null".to_string()),
                Value::Object(_) => ("json-null", "{}".to_string()),
                Value::Array(_) => ("json-null", "[]".to_string()),
            };
            let sep = if key.is_some() { ": " } else { "" };
            out.push_str(&format!(
                "<div class=\"json-leaf\">{key_html}{sep}<span class=\"{class}\">{text}</span></div>"
            ));
        }
    }
}

fn container(out: &mut String, key_html: &str, kind: &str, len: usize, depth: usize, body: impl FnOnce(&mut String)) {
    let open = if depth < 2 { " open" } else { "" };
    out.push_str(&format!(
        "<details{open}><summary>{key_html} <span class=\"json-type\">{kind}, {len}</span></summary>"
    ));
    body(out);
    out.push_str("</details>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tree_escapes_and_nests() {
        let html = json_tree(&serde_json::json!({"a": [1, "<b>"], "n": null}));
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("<span class=\"json-key\">a</span>"));
        assert!(html.contains("array, 2"));
        assert!(html.contains("json-null"));
    }
}

/// A form's errors, by field (the API's field names), and one for the form as a whole.
#[derive(Debug, Default)]
pub struct FieldErrors {
    pub fields: Vec<crate::ops::FieldError>,
    pub general: Option<String>,
}

impl FieldErrors {
    /// The message for `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// The errors to show on a form for an operation's refusal; an error that is not about the input (not
    /// found, forbidden, internal) stays an error page.
    pub fn from_op(e: OpError) -> Result<FieldErrors, WebError> {
        match e {
            OpError::Invalid(fields) => Ok(FieldErrors { fields, general: None }),
            e @ (OpError::Rejected(_) | OpError::Conflict(_) | OpError::QuotaExhausted { .. }) => {
                Ok(FieldErrors { fields: Vec::new(), general: Some(e.to_string()) })
            }
            other => Err(other.into()),
        }
    }
}

/// A page's query string: blank values (a filter left at "any") dropped, the rest as the JSON API's
/// [`QueryMap`](crate::http::extract::QueryMap), so lists page with the same signed keyset tokens.
#[derive(Debug, Default, Clone)]
pub struct PageQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let pairs = form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .map(|(k, v)| (k, v.trim().to_string()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        Ok(PageQuery(pairs))
    }
}

impl PageQuery {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The parameters as the JSON API reads them.
    pub fn map(&self) -> crate::http::extract::QueryMap {
        crate::http::extract::QueryMap::from_pairs(self.0.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// This query with `token` replaced: the next page's link.
    pub fn with_token(&self, path: &str, token: &str) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != "token" && k != "done") {
            s.append_pair(k, v);
        }
        s.append_pair("token", token);
        format!("{path}?{}", s.finish())
    }

    /// This query without paging (the same filters, first page).
    pub fn filters(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != "token" && k != "done") {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

impl super::readable::Cell {
    /// The cell's CSS class, after its tone.
    pub fn class(&self) -> &'static str {
        match self.tone {
            super::readable::Tone::Plain => "tone-plain",
            super::readable::Tone::Good => "tone-good",
            super::readable::Tone::Warn => "tone-warn",
            super::readable::Tone::Bad => "tone-bad",
        }
    }
}
