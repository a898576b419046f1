//! Forms: `application/x-www-form-urlencoded` bodies read as name–value pairs (a field may repeat, as
//! checked boxes do), and the CSRF check every state-changing dashboard request passes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header};

use super::page::WebError;
use super::session::Session;
use crate::AppState;

/// A submitted form.
#[derive(Debug, Clone, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every non-blank value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
    }

    /// Whether a checkbox `name` was checked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The raw value of `name` (not trimmed), for passwords.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Whether the request's `Origin` (when the browser sends one) is this server, as named by `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// A form posted by a signed-in person, with a valid CSRF token (field `csrf` or header `X-CSRF-Token`)
/// from a page of this server.
#[derive(Debug)]
pub struct CsrfForm(pub FormData);

impl FromRequest<AppState> for CsrfForm {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts.headers) {
            return Err(WebError::Csrf);
        }
        let header_token = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let req = Request::from_parts(parts, body);
        let body =
            Bytes::from_request(req, state).await.map_err(|_| WebError::BadRequest("the form is too large".into()))?;
        let form = FormData::parse(&body);
        let presented = header_token.as_deref().or_else(|| form.raw("csrf")).unwrap_or("");
        if !state.keys.check_csrf(session.login.as_str(), presented) {
            tracing::warn!(user = %session.user.id, "refused a dashboard request with a missing or forged CSRF token");
            return Err(WebError::Csrf);
        }
        Ok(CsrfForm(form))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_and_blanks() {
        let f = FormData::parse(b"ids=a&ids=b&ids=&label=+x+&empty=&pw=+p+");
        assert_eq!(f.all("ids"), ["a", "b"]);
        assert_eq!(f.get("label"), Some("x"));
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.raw("pw"), Some(" p "));
        assert!(!f.checked("missing"));
    }

    #[test]
    fn origin_must_be_this_host() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h), "no Origin (same-origin GET forms in older browsers) passes");
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
