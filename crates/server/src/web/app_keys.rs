//! Application keys: how programs written for the Threat Stack API (`/v2`, `/help`) sign in with Hawk —
//! the user id as Hawk id, one of the user's API keys as Hawk key, the organization id as `ext` — with the
//! ids to copy, ready-to-run Python (`mohawk`) and Node (`hawk`) examples, and a self-test that signs
//! `GET /help/hawk/self-test` in the browser (`static/hawk.js`, WebCrypto): the key never leaves the page,
//! only the signature does.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::page::{Chrome, Nav, WebError, render};
use super::session::OrgSession;
use crate::AppState;

/// The Python example (PyPI `mohawk`, as Threat Stack's own examples and our tests use it).
const PYTHON: &str = r#"# pip install mohawk requests
import logging

import requests
from mohawk import Sender

USER_ID = '{user_id}'  # Hawk id
ORG_ID = '{org_id}'  # Hawk ext
API_KEY = 'YOUR_API_KEY'  # Hawk key: one of your API keys
url = '{origin}/v2/alerts'

# mohawk warns on every checked answer that a client has no nonce store; a client needs none.
logging.getLogger('mohawk').addHandler(logging.NullHandler())

sender = Sender({'id': USER_ID, 'key': API_KEY, 'algorithm': 'sha256'},
                url, 'GET', always_hash_content=False, ext=ORG_ID)
response = requests.get(url, headers={'Authorization': sender.request_header})
response.raise_for_status()
# tlink signs its answer: check the signature (raises if it does not match).
sender.accept_response(response.headers['Server-Authorization'],
                       content=response.content,
                       content_type=response.headers['Content-Type'])
print(response.json())
"#;

/// The Node example (npm `hawk`, mozilla's reference implementation).
const NODE: &str = r#"// npm install hawk    (Node 18 or later; save as alerts.mjs and run: node alerts.mjs)
import Hawk from 'hawk';

const USER_ID = '{user_id}'; // Hawk id
const ORG_ID = '{org_id}'; // Hawk ext
const API_KEY = 'YOUR_API_KEY'; // Hawk key: one of your API keys
const url = '{origin}/v2/alerts';

const credentials = { id: USER_ID, key: API_KEY, algorithm: 'sha256' };
const { header, artifacts } = Hawk.client.header(url, 'GET', { credentials, ext: ORG_ID });
const res = await fetch(url, { headers: { Authorization: header } });
const body = await res.text();
if (!res.ok) throw new Error(`${res.status}: ${body}`);
// tlink signs its answer: check the signature (throws if it does not match).
Hawk.client.authenticate({ headers: Object.fromEntries(res.headers) }, credentials, artifacts,
  { payload: body, required: true });
console.log(JSON.parse(body));
"#;

/// An example with the ids and the server's origin filled in.
pub fn example(template: &str, origin: &str, user_id: &str, org_id: &str) -> String {
    template.replace("{origin}", origin).replace("{user_id}", user_id).replace("{org_id}", org_id)
}

/// The server's origin as the browser sees it (for the examples): the `Host` header, over HTTPS when the
/// session cookie is `Secure` (tlink is then reached over TLS, which Hawk signs as port 443).
fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:8080");
    let scheme = if state.config.web.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

#[derive(Template)]
#[template(path = "app_keys.html")]
struct AppKeysPage {
    chrome: Chrome,
    base: String,
    user_id: String,
    origin: String,
    hawk_enabled: bool,
    python: String,
    node: String,
}

/// `GET /orgs/{org}/application-keys`.
pub async fn page(State(state): State<AppState>, s: OrgSession, headers: HeaderMap) -> Result<Response, WebError> {
    let origin = origin(&state, &headers);
    let (user_id, org_id) = (s.user_id().to_string(), s.org_id().to_string());
    Ok(render(&AppKeysPage {
        chrome: Chrome::new(&s, Nav::AppKeys, "Application keys"),
        base: s.url(""),
        python: example(PYTHON, &origin, &user_id, &org_id),
        node: example(NODE, &origin, &user_id, &org_id),
        hawk_enabled: state.config.hawk.enabled,
        user_id,
        origin,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_are_filled_in() {
        for t in [PYTHON, NODE] {
            let e = example(t, "http://tlink.test:8080", "u-1", "o-2");
            assert!(e.contains("'http://tlink.test:8080/v2/alerts'"), "{e}");
            assert!(e.contains("USER_ID = 'u-1'") && e.contains("ORG_ID = 'o-2'"), "{e}");
            assert!(e.contains("'YOUR_API_KEY'") && e.contains("'sha256'"), "{e}");
            assert!(!e.contains("{origin}") && !e.contains("{user_id}") && !e.contains("{org_id}"), "{e}");
        }
    }
}
