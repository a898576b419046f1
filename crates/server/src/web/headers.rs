//! The security headers of every dashboard response: a strict Content-Security-Policy (nothing inline,
//! nothing from elsewhere, no framing), `X-Frame-Options`, `Referrer-Policy`, `nosniff` and COOP.

use axum::http::{HeaderName, HeaderValue, header};

/// The Content-Security-Policy of every page: nothing inline, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The security headers every dashboard response carries (pages, fragments, static files, errors).
pub fn security_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
    ]
}
