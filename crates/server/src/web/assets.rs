//! The dashboard's static files, embedded in the binary: the stylesheet, the script, the vendored htmx
//! (see `static/vendor/README.md` for versions and licenses) and the icon. They are served under
//! `/static/<version>/…`, where the version is a digest of their contents, so browsers may keep them for
//! a year and still see a new release's files at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset { path: "app.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../../static/app.css") },
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/app.js"),
    },
    Asset {
        path: "hawk.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/hawk.js"),
    },
    Asset {
        path: "vendor/htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/htmx.min.js"),
    },
    Asset {
        path: "vendor/htmx-ext-sse.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/htmx-ext-sse.js"),
    },
    Asset { path: "favicon.svg", content_type: "image/svg+xml", bytes: include_bytes!("../../static/favicon.svg") },
];

/// The digest of every embedded file: the `<version>` in their URLs.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for f in FILES {
        h.update(f.path.as_bytes());
        h.update(f.bytes);
    }
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
});

/// `GET /static/{version}/{file}`. A file asked for under another version (an old page) is still served,
/// but not kept.
pub async fn serve(Path((version, file)): Path<(String, String)>) -> Response {
    let Some(asset) = FILES.iter().find(|f| f.path == file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let cache = if version == *VERSION { "public, max-age=31536000, immutable" } else { "no-cache" };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.bytes,
    )
        .into_response()
}

/// `GET /favicon.ico`, which browsers ask for whatever the page says.
pub async fn favicon() -> Response {
    serve(Path((VERSION.clone(), "favicon.svg".to_string()))).await
}

/// The embedded files, path and size (for the page-weight report in the tests).
pub fn sizes() -> impl Iterator<Item = (&'static str, usize)> {
    FILES.iter().map(|f| (f.path, f.bytes.len()))
}
