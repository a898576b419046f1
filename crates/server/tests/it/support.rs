//! The test harness: [`TestApp`] (a router over a fresh database), request helpers and users.

use std::path::PathBuf;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tlink_server::{AppState, Config};
use tlink_store::{Db, Store};
use tower::ServiceExt;

/// The token secret of every test app (tests forge tokens with it).
pub const SECRET: &[u8] = b"integration-test-secret-0123456789-abcdef";
/// The password of every user made by [`TestApp::user`].
pub const PASSWORD: &str = "correct horse battery staple";
/// Set to a PostgreSQL URL to run every test on PostgreSQL too.
pub const PG_ENV: &str = "TLINK_TEST_DATABASE_URL";

/// What to remove when the app is dropped (also when the test panics).
enum Cleanup {
    Dir(PathBuf),
    Schema { url: String, schema: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { url, schema } => {
                // Best effort, on a thread of its own: the test's runtime may be unwinding.
                let (url, schema) = (url.clone(), schema.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(client) = pg_client(&url).await {
                            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

async fn pg_client(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Credentials to send with a request.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Key(String),
    /// Any header, verbatim (e.g. `Authorization: Basic …`).
    Header(&'static str, String),
}

impl Auth {
    pub fn bearer(token: &str) -> Auth {
        Auth::Bearer(token.to_string())
    }

    pub fn key(key: &str) -> Auth {
        Auth::Key(key.to_string())
    }

    fn apply(&self, req: axum::http::request::Builder) -> axum::http::request::Builder {
        match self {
            Auth::None => req,
            Auth::Bearer(t) => req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Auth::Key(k) => req.header("x-api-key", k.as_str()),
            Auth::Header(name, value) => req.header(*name, value.as_str()),
        }
    }
}

/// A response: status, headers and the body (parsed as JSON when it is JSON, else `Value::Null`).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// `body.data`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Panics with the body unless the status is `want`.
    #[track_caller]
    pub fn expect_status(&self, want: StatusCode) -> &Self {
        assert_eq!(self.status, want, "unexpected status; body: {}", self.text);
        self
    }

    /// A success envelope with status `want`; returns `data`.
    #[track_caller]
    pub fn ok(&self, want: StatusCode) -> &Value {
        self.expect_status(want);
        assert_eq!(self.body["success"], json!(true), "success flag: {}", self.text);
        assert!(self.body.get("data").is_some(), "no data: {}", self.text);
        assert!(self.body.get("message").is_none(), "message on success: {}", self.text);
        self.data()
    }

    /// An error envelope with status `want`: `success: false`, a non-empty `message`, no `data`.
    #[track_caller]
    pub fn err(&self, want: StatusCode) -> &Self {
        self.expect_status(want);
        assert_eq!(self.body["success"], json!(false), "success flag: {}", self.text);
        let msg = self.body["message"].as_str().unwrap_or_default();
        assert!(!msg.is_empty(), "error without message: {}", self.text);
        assert!(self.body.get("data").is_none(), "data on error: {}", self.text);
        if want == StatusCode::UNAUTHORIZED {
            let www = self.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(www.starts_with("Bearer"), "401 without WWW-Authenticate: {:?}", self.headers);
        }
        self
    }

    /// A 400 whose first invalid field is `field`.
    #[track_caller]
    pub fn invalid(&self, field: &str) -> &Self {
        self.err(StatusCode::BAD_REQUEST);
        assert_eq!(self.first_field(), Some(field), "invalid field; body: {}", self.text);
        let why = self.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(!why.is_empty(), "field error without a reason: {}", self.text);
        self
    }

    /// A 400 that names `field` in its message (for errors whose `errors` entry is not asserted).
    #[track_caller]
    pub fn rejects(&self, field: &str) -> &Self {
        self.err(StatusCode::BAD_REQUEST);
        assert!(self.message().contains(field), "400 without naming `{field}`: {}", self.text);
        self
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    pub fn first_field(&self) -> Option<&str> {
        self.body["errors"][0]["field"].as_str()
    }

    /// `meta.nextToken`, if any.
    pub fn next_token(&self) -> Option<String> {
        self.body["meta"]["nextToken"].as_str().map(str::to_string)
    }

    /// The `id` of every item of a list's `data`.
    pub fn ids(&self) -> Vec<String> {
        self.items().iter().map(|i| i["id"].as_str().expect("item id").to_string()).collect()
    }

    pub fn items(&self) -> &Vec<Value> {
        self.data().as_array().expect("data is a list")
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    /// The organization created with the user, if any.
    pub org: Option<String>,
    pub access: String,
    pub refresh: String,
}

impl TestUser {
    pub fn auth(&self) -> Auth {
        Auth::bearer(&self.access)
    }

    /// The user's first organization.
    pub fn org(&self) -> &str {
        self.org.as_deref().expect("user was created with an organization")
    }
}

/// One app under test: the state and the router built from it, over a database of its own.
pub struct TestApp {
    pub state: AppState,
    router: Router,
    // Last: dropped after the store.
    _cleanup: Cleanup,
}

fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl TestApp {
    /// An app on a fresh SQLite file.
    pub async fn sqlite(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = std::env::temp_dir().join(format!("tlink-it-{}", unique()));
        std::fs::create_dir_all(&dir).expect("creating the test directory");
        let cleanup = Cleanup::Dir(dir.clone());
        let url = format!("sqlite://{}", dir.join("tlink.db").display());
        let store = Store::connect(&url, 4).await.expect("opening SQLite");
        Self::finish(store, tweak, cleanup).await
    }

    /// An app on a fresh schema of the PostgreSQL database named by `TLINK_TEST_DATABASE_URL`; `None`
    /// (after saying so) when the variable is unset.
    pub async fn postgres(tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let url = match std::env::var(PG_ENV) {
            Ok(u) if !u.trim().is_empty() => u,
            _ => {
                eprintln!("{PG_ENV} is not set: skipping the PostgreSQL run of this test");
                return None;
            }
        };
        let schema = format!("t_{}", unique());
        let admin = pg_client(&url).await.expect("connecting to TLINK_TEST_DATABASE_URL");
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("creating the test schema");
        drop(admin);
        let cleanup = Cleanup::Schema { url: url.clone(), schema: schema.clone() };
        let mut cfg: tokio_postgres::Config = url.parse().expect("TLINK_TEST_DATABASE_URL is a valid URL");
        cfg.options(format!("-c search_path={schema}"));
        let db = Db::connect_pg(cfg, 4).expect("PostgreSQL pool");
        Some(Self::finish(Store::from_db(db), tweak, cleanup).await)
    }

    async fn finish(store: Store, tweak: impl FnOnce(&mut Config), cleanup: Cleanup) -> TestApp {
        store.migrate().await.expect("migrating");
        let mut config = Config::default();
        // Request rate limits are off unless a test turns them on (most tests make many quick requests).
        config.limits.enabled = false;
        tweak(&mut config);
        let state = AppState::new(store, config, SECRET).expect("valid configuration");
        let router = tlink_server::router(state.clone());
        TestApp { state, router, _cleanup: cleanup }
    }

    /// A fresh router over the same state (e.g. to serve it on a socket).
    pub fn router(&self) -> Router {
        tlink_server::router(self.state.clone())
    }

    /// Sends a request built by the caller.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let (status, headers, bytes) = self.send_raw(req).await;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    /// Sends a request and returns the body as bytes.
    pub async fn send_raw(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let resp = self.router.clone().oneshot(req).await.expect("the router is infallible");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("reading the response body").to_bytes();
        (parts.status, parts.headers, bytes)
    }

    /// A request with an optional JSON body.
    pub async fn req(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Reply {
        let mut b = auth.apply(Request::builder().method(method).uri(path));
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&v).expect("serialising the body"))
            }
            None => Body::empty(),
        };
        self.send(b.body(body).expect("valid request")).await
    }

    /// A request with a raw body and content type (`None`: no `Content-Type` header).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut b = auth.apply(Request::builder().method(method).uri(path));
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, HeaderValue::from_str(ct).expect("content type"));
        }
        self.send(b.body(body.into()).expect("valid request")).await
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.req(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.req(Method::POST, path, auth, Some(body)).await
    }

    pub async fn patch(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.req(Method::PATCH, path, auth, Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: &Auth) -> Reply {
        self.req(Method::DELETE, path, auth, None).await
    }

    /// Creates a user directly (password [`PASSWORD`]); with `org`, also an organization it owns.
    /// Returns the user id and the organization id.
    pub async fn create_user(&self, email: &str, org: Option<&str>) -> (String, Option<String>) {
        let account =
            tlink_server::ops::users::NewAccount { email, password: PASSWORD, name: None, org, operator: false };
        let (row, org) = tlink_server::ops::users::create_user(&self.state, account).await.expect("creating a user");
        (row.id.to_string(), org.map(|o| o.to_string()))
    }

    /// `POST /api/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/api/auth/login", &Auth::None, json!({ "email": email, "password": password })).await
    }

    /// Creates a user (with an organization when `org` is given) and signs it in.
    pub async fn user(&self, email: &str, org: Option<&str>) -> TestUser {
        let (id, org) = self.create_user(email, org).await;
        let r = self.login(email, PASSWORD).await;
        let data = r.ok(StatusCode::OK);
        TestUser {
            id,
            org,
            access: data["accessToken"].as_str().expect("accessToken").to_string(),
            refresh: data["refreshToken"].as_str().expect("refreshToken").to_string(),
        }
    }

    /// Creates an instance operator (no organization) and signs it in.
    pub async fn operator(&self, email: &str) -> TestUser {
        let user = self.user(email, None).await;
        let id = tlink_domain::UserId::parse(&user.id).expect("a user id");
        assert!(self.state.store.set_operator(&id, true).await.expect("setting the operator role"));
        user
    }

    /// Creates a user without an organization, adds it to `org` with `role` (as `by`), signs it in.
    pub async fn member(&self, org: &str, by: &TestUser, email: &str, role: &str) -> TestUser {
        let mut u = self.user(email, None).await;
        self.post(&format!("/api/orgs/{org}/members"), &by.auth(), json!({ "email": email, "role": role }))
            .await
            .ok(StatusCode::CREATED);
        u.org = Some(org.to_string());
        u
    }

    /// Creates an API key over HTTP and returns the full key.
    pub async fn api_key(&self, auth: &Auth, name: &str) -> String {
        let r = self.post("/api/users/me/api-keys", auth, json!({ "name": name })).await;
        r.ok(StatusCode::CREATED)["key"].as_str().expect("key").to_string()
    }

    /// Creates an asset over HTTP; returns its `data`.
    pub async fn asset(&self, org: &str, auth: &Auth, kind: &str, value: &str) -> Value {
        let r = self.post(&format!("/api/orgs/{org}/assets"), auth, json!({ "type": kind, "value": value })).await;
        r.ok(StatusCode::CREATED).clone()
    }
}

/// A random id of the right shape that names nothing.
pub fn random_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// The string at `v[key]`.
#[track_caller]
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// Tool settings for tests: loopback targets allowed, no resolver unless a test DNS server is given.
pub fn loopback_config() -> tlink_tools::ToolsConfig {
    tlink_tools::ToolsConfig {
        allow_private_targets: true,
        resolvers: vec!["127.0.0.1:1".into()],
        ..tlink_tools::ToolsConfig::default()
    }
}
