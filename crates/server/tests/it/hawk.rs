//! Hawk authentication: signed requests on `/api` and `/help`, every reference error, signed responses,
//! and the two independent reference clients (PyPI `mohawk`, npm `hawk`) against a real socket.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tlink_domain::hawk::{self, Artifacts, Kind};

use crate::support::{Reply, TestApp, TestUser, s};

pub(crate) const HOST: &str = "api.example.com";
pub(crate) const PORT: u16 = 8443;

/// A client's view of one signed request.
pub(crate) struct Signed {
    method: Method,
    resource: String,
    host: String,
    port: u16,
    ts: String,
    nonce: String,
    hash: Option<String>,
    ext: Option<String>,
}

impl Signed {
    pub(crate) fn new(method: Method, resource: &str, ext: Option<&str>) -> Signed {
        Signed {
            method,
            resource: resource.to_string(),
            host: HOST.into(),
            port: PORT,
            ts: (tlink_store::now_millis() / 1000).to_string(),
            nonce: uuid::Uuid::now_v7().simple().to_string()[20..].to_string(),
            hash: None,
            ext: ext.map(str::to_string),
        }
    }

    pub(crate) fn with_body(mut self, content_type: &str, body: &[u8]) -> Signed {
        self.hash = Some(hawk::payload_hash(content_type, body));
        self
    }

    fn artifacts(&self) -> Artifacts<'_> {
        Artifacts {
            method: self.method.as_str(),
            resource: &self.resource,
            host: &self.host,
            port: self.port,
            ts: &self.ts,
            nonce: &self.nonce,
            hash: self.hash.as_deref(),
            ext: self.ext.as_deref(),
            app: None,
            dlg: None,
        }
    }

    pub(crate) fn header(&self, id: &str, key: &str) -> String {
        hawk::client_header(id, key.as_bytes(), &self.artifacts()).expect("a valid header")
    }
}

/// Sends `method resource` (with `Host: HOST:PORT`) carrying `authorization`.
pub(crate) async fn send(
    app: &TestApp,
    method: Method,
    resource: &str,
    authorization: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(resource)
        .header(header::HOST, format!("{HOST}:{PORT}"))
        .header(header::AUTHORIZATION, authorization);
    let body = match body {
        Some((ct, bytes)) => {
            b = b.header(header::CONTENT_TYPE, ct);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    app.send(b.body(body).expect("request")).await
}

/// Checks `Server-Authorization` on a response to `req` the way a client does.
#[track_caller]
fn assert_signed(r: &Reply, req: &Signed, key: &str) {
    let value = r.headers.get("server-authorization").and_then(|v| v.to_str().ok()).expect("Server-Authorization");
    let ct = r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let hash = hawk::payload_hash(ct, r.text.as_bytes());
    let mac = hawk::mac(key.as_bytes(), Kind::Response, &Artifacts { hash: Some(&hash), ext: None, ..req.artifacts() });
    assert_eq!(value, format!("Hawk mac=\"{mac}\", hash=\"{hash}\""), "response signature");
}

#[track_caller]
fn assert_refused(r: &Reply, status: StatusCode, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let www = r.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(www.starts_with("Hawk"), "WWW-Authenticate: {www}");
    assert!(www.contains(error), "`{error}` in WWW-Authenticate: {www}");
    assert!(r.headers.get("server-authorization").is_none(), "a refusal is not signed");
}

struct Setup {
    owner: TestUser,
    org: String,
    key: String,
}

async fn setup(app: &TestApp) -> Setup {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let key = app.api_key(&owner.auth(), "hawk").await;
    let org = owner.org().to_string();
    Setup { owner, org, key }
}

both!(signed_requests_are_served_and_answers_signed, served_case);
async fn served_case(app: TestApp) {
    let Setup { owner, org, key } = setup(&app).await;
    app.asset(&org, &owner.auth(), "DOMAIN", "example.com").await;

    let get = Signed::new(Method::GET, &format!("/api/orgs/{org}/assets?limit=2&type=DOMAIN"), Some(&org));
    let r = send(&app, Method::GET, &get.resource, &get.header(&owner.id, &key), None).await;
    assert_eq!(r.ok(StatusCode::OK).as_array().map(Vec::len), Some(1));
    assert_signed(&r, &get, &key);

    let body = serde_json::to_vec(&json!({"type": "DOMAIN", "value": "hawk.example.com"})).expect("json");
    let post =
        Signed::new(Method::POST, &format!("/api/orgs/{org}/assets"), Some(&org)).with_body("application/json", &body);
    let r =
        send(&app, Method::POST, &post.resource, &post.header(&owner.id, &key), Some(("application/json", body))).await;
    assert_eq!(s(r.ok(StatusCode::CREATED), "value"), "hawk.example.com");
    assert_signed(&r, &post, &key);

    // Routes outside an organization take Hawk without ext.
    let me = Signed::new(Method::GET, "/api/users/me", None);
    let r = send(&app, Method::GET, "/api/users/me", &me.header(&owner.id, &key), None).await;
    assert_eq!(s(r.ok(StatusCode::OK), "id"), owner.id);
    assert_signed(&r, &me, &key);

    // The self-test, Threat Stack's way.
    let test = Signed::new(Method::GET, "/help/hawk/self-test", Some(&org));
    let r = send(&app, Method::GET, "/help/hawk/self-test", &test.header(&owner.id, &key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((s(&r.body, "userId"), s(&r.body, "organizationId")), (owner.id.as_str(), org.as_str()));
    assert_signed(&r, &test, &key);
}

both!(tampered_stale_and_replayed_requests_are_refused, refused_case);
async fn refused_case(app: TestApp) {
    let Setup { owner, org, key } = setup(&app).await;
    let id = owner.id.as_str();
    let path = format!("/api/orgs/{org}/assets?limit=2");
    let good = || Signed::new(Method::GET, &path, Some(&org));

    // Each signed field changed after signing.
    let signed = good();
    let h = signed.header(id, &key);
    assert_refused(&send(&app, Method::DELETE, &path, &h, None).await, StatusCode::UNAUTHORIZED, "Bad mac");
    let other_path = format!("/api/orgs/{org}/alert-rules?limit=2");
    assert_refused(
        &send(&app, Method::GET, &other_path, &good().header(id, &key), None).await,
        StatusCode::UNAUTHORIZED,
        "Bad mac",
    );
    let other_query = format!("/api/orgs/{org}/assets?limit=3");
    assert_refused(
        &send(&app, Method::GET, &other_query, &good().header(id, &key), None).await,
        StatusCode::UNAUTHORIZED,
        "Bad mac",
    );
    let mut other_host = good();
    other_host.host = "evil.example.com".into();
    assert_refused(
        &send(&app, Method::GET, &path, &other_host.header(id, &key), None).await,
        StatusCode::UNAUTHORIZED,
        "Bad mac",
    );
    let mut other_port = good();
    other_port.port = 443;
    assert_refused(
        &send(&app, Method::GET, &path, &other_port.header(id, &key), None).await,
        StatusCode::UNAUTHORIZED,
        "Bad mac",
    );
    let ext_swapped =
        good().header(id, &key).replace(&format!("ext=\"{org}\""), &format!("ext=\"{}\"", crate::support::random_id()));
    assert_refused(&send(&app, Method::GET, &path, &ext_swapped, None).await, StatusCode::UNAUTHORIZED, "Bad mac");

    // The body: a hash is required when one is sent, and must match it.
    let body = serde_json::to_vec(&json!({"type": "DOMAIN", "value": "a.example.com"})).expect("json");
    let assets = format!("/api/orgs/{org}/assets");
    let no_hash = Signed::new(Method::POST, &assets, Some(&org)).header(id, &key);
    let r = send(&app, Method::POST, &assets, &no_hash, Some(("application/json", body.clone()))).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Missing required payload hash");
    let other_body = serde_json::to_vec(&json!({"type": "DOMAIN", "value": "b.example.com"})).expect("json");
    let signed_other = Signed::new(Method::POST, &assets, Some(&org)).with_body("application/json", &other_body);
    let r = send(&app, Method::POST, &assets, &signed_other.header(id, &key), Some(("application/json", body))).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Bad payload hash");
    let listed = app.get(&assets, &owner.auth()).await;
    assert!(listed.items().is_empty(), "nothing was written: {}", listed.text);

    // Stale: the answer carries the server's time, signed with the key.
    let mut stale = good();
    stale.ts = (tlink_store::now_millis() / 1000 - 120).to_string();
    let r = send(&app, Method::GET, &path, &stale.header(id, &key), None).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Stale timestamp");
    let www = r.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let attr = |name: &str| {
        www.split(&format!("{name}=\"")).nth(1).and_then(|v| v.split('"').next()).unwrap_or("").to_string()
    };
    let server_ts: i64 = attr("ts").parse().expect("ts");
    assert!((server_ts - tlink_store::now_millis() / 1000).abs() <= 2);
    assert_eq!(attr("tsm"), hawk::ts_mac(key.as_bytes(), server_ts));

    // Replayed.
    let once = good();
    let h = once.header(id, &key);
    send(&app, Method::GET, &path, &h, None).await.ok(StatusCode::OK);
    assert_refused(&send(&app, Method::GET, &path, &h, None).await, StatusCode::UNAUTHORIZED, "Invalid nonce");

    // A MAC made with SHA-1 is not accepted.
    use hmac::Mac as _;
    let normalized = hawk::normalized(Kind::Header, &good().artifacts());
    let mut sha1 = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("key");
    sha1.update(normalized.as_bytes());
    let g = good();
    let sha1_mac = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sha1.finalize().into_bytes());
    let h = format!("Hawk id=\"{id}\", ts=\"{}\", nonce=\"{}\", ext=\"{org}\", mac=\"{sha1_mac}\"", g.ts, g.nonce);
    assert_refused(&send(&app, Method::GET, &path, &h, None).await, StatusCode::UNAUTHORIZED, "Bad mac");

    // Malformed headers are bad requests.
    let r = send(&app, Method::GET, &path, "Hawk id=\"x\", ts=\"1\", nonce=\"n\"", None).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, "Missing attributes");
    let r = send(&app, Method::GET, &path, "Hawk id=\"x\", ts=\"1\", nonce=\"n\", mac=\"m\", foo=\"b\"", None).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, "Unknown attribute");
}

both!(nonces_are_remembered_in_redis, redis_refused_case, |c: &mut tlink_server::Config| {
    c.limits.redis_url = "redis://127.0.0.1:6379/0".into();
    c.limits.redis_prefix = format!("tlink-it-{}:", uuid::Uuid::now_v7().simple());
});
async fn redis_refused_case(app: TestApp) {
    if crate::limits::redis_ready(&app).await {
        refused_case(app).await;
    }
}

both!(credentials_and_organizations_are_checked, credentials_case);
async fn credentials_case(app: TestApp) {
    let Setup { owner, org, key } = setup(&app).await;
    let id = owner.id.as_str();
    let test = "/help/hawk/self-test";

    // Unknown user; a key of another user.
    let stranger = app.user("stranger@example.com", Some("Other")).await;
    let their_key = app.api_key(&stranger.auth(), "theirs").await;
    let r = send(
        &app,
        Method::GET,
        test,
        &Signed::new(Method::GET, test, Some(&org)).header(&crate::support::random_id(), &key),
        None,
    )
    .await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Unknown credentials");
    let r =
        send(&app, Method::GET, test, &Signed::new(Method::GET, test, Some(&org)).header(id, &their_key), None).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Bad mac");
    // Threat Stack routes answer errors as {"errors": [...]}.
    assert!(r.body["errors"][0].as_str().is_some_and(|m| m.contains("Bad mac")), "{}", r.text);

    // An organization the user is not in, by ext; and ext disagreeing with the path.
    let other_org = stranger.org().to_string();
    let r =
        send(&app, Method::GET, test, &Signed::new(Method::GET, test, Some(&other_org)).header(id, &key), None).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Unknown organization");
    let theirs = format!("/api/orgs/{other_org}/assets");
    let r = send(&app, Method::GET, &theirs, &Signed::new(Method::GET, &theirs, None).header(id, &key), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another tenant's organization is invisible: {}", r.text);
    let mine = format!("/api/orgs/{org}/assets");
    let r =
        send(&app, Method::GET, &theirs, &Signed::new(Method::GET, &theirs, Some(&org)).header(id, &key), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "ext and path disagree: {}", r.text);
    // Threat Stack routes need the organization.
    let r = send(&app, Method::GET, test, &Signed::new(Method::GET, test, None).header(id, &key), None).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Missing organization");

    // A revoked key stops working at once.
    let keys = app.get("/api/users/me/api-keys", &owner.auth()).await;
    let key_id = s(&keys.items()[0], "id").to_string();
    let ok = send(&app, Method::GET, &mine, &Signed::new(Method::GET, &mine, Some(&org)).header(id, &key), None).await;
    ok.ok(StatusCode::OK);
    app.delete(&format!("/api/users/me/api-keys/{key_id}"), &owner.auth()).await.ok(StatusCode::OK);
    let r = send(&app, Method::GET, &mine, &Signed::new(Method::GET, &mine, Some(&org)).header(id, &key), None).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "Unknown credentials");
}

/// Runs one reference client script against `addr`; `None` when its library is missing (and
/// `REQUIRE_TEST_PEERS` is unset).
pub(crate) async fn run_client(program: &str, script: &str, env: &[(&str, String)]) -> Option<(bool, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let mut cmd = std::process::Command::new(program);
    cmd.arg(dir.join(script)).current_dir(&dir).envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    // On a blocking thread: the server under test runs on this test's runtime.
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("client thread");
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "{program} is required: {e}");
            return None;
        }
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let missing = text.contains("No module named 'mohawk'")
        || text.contains("Cannot find package 'hawk'")
        || text.contains("ERR_MODULE_NOT_FOUND");
    if missing {
        assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "{script} needs its library: {text}");
        eprintln!("skipping {script}: its Hawk library is not installed");
        return None;
    }
    Some((out.status.success(), text))
}

both!(reference_clients_authenticate_and_verify_responses, clients_case, |c: &mut tlink_server::Config| {
    c.hawk.host = String::new();
});
async fn clients_case(app: TestApp) {
    let Setup { owner, org, key } = setup(&app).await;
    let stranger = app.user("stranger@example.com", Some("Other")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let service = app.router().into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    let env = [
        ("TS_USER_ID", owner.id.clone()),
        ("TS_API_KEY", key.clone()),
        ("TS_ORGANIZATION_ID", org.clone()),
        ("TS_OTHER_ORGANIZATION_ID", stranger.org().to_string()),
        ("TS_HOST", format!("http://{addr}")),
    ];
    for (program, script) in [("python3", "hawk_mohawk.py"), ("node", "hawk_node.mjs")] {
        let Some((ok, text)) = run_client(program, script, &env).await else { continue };
        assert!(ok, "{script} failed:\n{text}");
        for step in ["self-test", "list-assets", "create-asset", "tampered-query", "wrong-org"] {
            assert!(text.lines().any(|l| l == format!("ok {step}")), "{script}: step {step}:\n{text}");
        }
    }
    server.abort();
    let assets: Value = app.get(&format!("/api/orgs/{org}/assets"), &owner.auth()).await.body;
    assert!(assets["data"].as_array().is_some_and(|a| !a.is_empty()), "the clients' assets were created");
}
