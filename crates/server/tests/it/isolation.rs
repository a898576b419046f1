//! The tenant-isolation matrix, generated from the OpenAPI document: every documented operation but a short
//! list of public ones, called with every credential that must not reach a victim organization's data — a
//! member of another organization (session, API key, Hawk with its own organization in `ext`, without
//! `ext`, and naming the victim's), a VIEWER of the victim, a revoked key, an expired session and an agent
//! enrollment token. Each call must get exactly the status isolation demands (another tenant's resources
//! are a 404, bad credentials a 401, a viewer's writes a 403), no answer may carry the victim's data, and
//! the victim's data is re-read after each attacker and must not have changed.
//!
//! The operations come from the document, so a new route is covered as soon as it is documented: a path
//! parameter with no victim resource behind it, or a request body missing from [`body_for`], fails the test
//! and names what to add.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};

use crate::hawk::{HOST, PORT, Signed};
use crate::support::{Auth, Reply, SECRET, TestApp, TestUser, loopback_config, random_id, s};

/// Every string of the victim's data carries this marker, so that no answer may contain it.
const MARK: &str = "victimmark";

/// Operations left out of the matrix, with the reason: they take no credential and hold no tenant's data.
const PUBLIC: &[(&str, &str, &str)] = &[
    ("post", "/api/auth/login", "exchanges a password for tokens; no credential, no tenant data"),
    ("post", "/api/auth/refresh", "exchanges a refresh token; covered by the auth tests"),
    ("post", "/api/auth/logout", "ends the session of a refresh token; covered by the auth tests"),
    ("get", "/healthz", "liveness, no data"),
    ("get", "/readyz", "readiness, no data"),
];

/// Viewer calls whose answer is not the general rule (reads allowed, writes 403), with the reason.
const VIEWER_EXCEPTIONS: &[(&str, &str, u16, &str)] = &[
    ("post", "/api/orgs/{orgId}/alert-rules/test", 200, "a dry run: it saves nothing and shows what a viewer may read"),
    ("get", "/api/orgs/{orgId}/audit-log", 403, "the audit log is for owners and admins"),
    ("get", "/v2/auditlogs", 403, "the audit log is for owners and admins"),
];

/// The document's security schemes that carry a user's credential (the agent token is not one).
const USER_SCHEMES: &[&str] = &["bearer", "apiKey", "hawk"];

/// The CVE and package of the victim's findings (public names, not the victim's data).
const CVE: &str = "CVE-2023-50495";
const PACKAGE: &str = "openssl";

/// A credential as sent.
#[derive(Debug, Clone)]
enum Cred {
    Bearer(String),
    Key(String),
    Hawk { id: String, key: String, ext: Option<String> },
}

/// Sends `method uri` with `cred` and an optional JSON body (Hawk-signed with its payload hash).
async fn call(app: &TestApp, cred: &Cred, method: &Method, uri: &str, body: Option<&Value>) -> Reply {
    let bytes = body.map(|b| serde_json::to_vec(b).expect("serialising a body"));
    let mut req = Request::builder().method(method.clone()).uri(uri).header(header::HOST, format!("{HOST}:{PORT}"));
    req = match cred {
        Cred::Bearer(t) => req.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Cred::Key(k) => req.header("x-api-key", k.as_str()),
        Cred::Hawk { id, key, ext } => {
            let mut signed = Signed::new(method.clone(), uri, ext.as_deref());
            if let Some(b) = &bytes {
                signed = signed.with_body("application/json", b);
            }
            req.header(header::AUTHORIZATION, signed.header(id, key))
        }
    };
    if bytes.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let body = bytes.map_or_else(Body::empty, Body::from);
    app.send(req.body(body).expect("a valid request")).await
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iat: i64,
    exp: i64,
    typ: &'a str,
}

/// An access token for `user` signed like the server's own, expiring `exp_offset_secs` from now.
fn access_token(user: &str, exp_offset_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims { sub: user, iat: now - 1800, exp: now + exp_offset_secs, typ: "access" };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET))
        .expect("encoding a JWT")
}

/// A Debian host's report: packages with findings in the OSV fixtures (one of them HIGH, which alerts).
fn host_report(instance: &str, hostname: &str, digest: &str) -> Value {
    json!({
        "instanceId": instance, "hostname": hostname, "osVersion": "Debian GNU/Linux 12 (bookworm)",
        "osId": "debian", "osVersionId": "12", "inventoryDigest": digest,
        "packages": [
            {"manager": "dpkg", "name": "libgnutls30", "version": "3.7.9-2+deb12u1+b1", "source": "gnutls28",
             "sourceVersion": "3.7.9-2+deb12u1"},
            {"manager": "dpkg", "name": "libtinfo6", "version": "6.4-4", "source": "ncurses"},
            {"manager": "dpkg", "name": "openssl", "version": "3.0.11-1~deb12u1"},
        ],
        "ports": []
    })
}

/// The victim organization and a resource of every kind in it.
struct Victim {
    owner: TestUser,
    org: String,
    /// A live key of the owner (the owner's own Hawk reads).
    owner_key: String,
    /// Another live key of the owner: the `{keyId}` of the matrix.
    key_id: String,
    member: TestUser,
    viewer: TestUser,
    viewer_key: String,
    asset: String,
    rule: String,
    report: String,
    enrollment: String,
    token: String,
    agent: String,
    alert: String,
    event: String,
    delivery: String,
    /// A key of the owner, revoked.
    revoked_key: String,
    /// A user in no organization, for the bodies that add a member.
    drifter_email: String,
    /// Every id and secret of the victim that no outsider's answer may contain.
    secrets: Vec<String>,
}

impl Victim {
    fn owner_hawk(&self) -> Cred {
        Cred::Hawk { id: self.owner.id.clone(), key: self.owner_key.clone(), ext: Some(self.org.clone()) }
    }

    async fn new(app: &TestApp) -> Victim {
        let owner = app.user(&format!("{MARK}-owner@example.com"), Some(&format!("{MARK} Org"))).await;
        let org = owner.org().to_string();
        let auth = owner.auth();
        let o = format!("/api/orgs/{org}");
        let member = app.member(&org, &owner, &format!("{MARK}-member@example.com"), "MEMBER").await;
        let viewer = app.member(&org, &owner, &format!("{MARK}-viewer@example.com"), "VIEWER").await;
        let viewer_key = app.api_key(&viewer.auth(), "viewer").await;
        let drifter_email = "drifter@example.com".to_string();
        app.create_user(&drifter_email, None).await;

        let key = |r: &Reply| (s(r.data(), "id").to_string(), s(r.data(), "key").to_string());
        let r = app.post("/api/users/me/api-keys", &auth, json!({"name": format!("{MARK} hawk")})).await;
        r.ok(StatusCode::CREATED);
        let (owner_key_id, owner_key) = key(&r);
        let r = app.post("/api/users/me/api-keys", &auth, json!({"name": format!("{MARK} ci")})).await;
        r.ok(StatusCode::CREATED);
        let (key_id, ci_key) = key(&r);
        let r = app.post("/api/users/me/api-keys", &auth, json!({"name": format!("{MARK} doomed")})).await;
        r.ok(StatusCode::CREATED);
        let (revoked_id, revoked_key) = key(&r);
        // The doomed key works, over both schemes, until it is revoked.
        app.get(&o, &Auth::key(&revoked_key)).await.ok(StatusCode::OK);
        let hawk = Cred::Hawk { id: owner.id.clone(), key: revoked_key.clone(), ext: Some(org.clone()) };
        call(app, &hawk, &Method::GET, &o, None).await.ok(StatusCode::OK);
        app.delete(&format!("/api/users/me/api-keys/{revoked_id}"), &auth).await.ok(StatusCode::OK);

        let asset = app
            .post(
                &format!("{o}/assets"),
                &auth,
                json!({"type": "DOMAIN", "value": format!("{MARK}.example.com"), "label": format!("{MARK} label")}),
            )
            .await;
        let asset = s(asset.ok(StatusCode::CREATED), "id").to_string();
        let rule = app
            .post(
                &format!("{o}/alert-rules"),
                &auth,
                json!({
                    "name": format!("{MARK} rule"),
                    "condition": {"tool": "vulnerability", "field": "severityLevel", "operator": "gte", "value": 4},
                    "severity": "HIGH", "notifyEmail": true, "notifyWebhook": true,
                    "webhookUrl": format!("http://127.0.0.1:9/{MARK}-hook"),
                }),
            )
            .await;
        let rule = s(rule.ok(StatusCode::CREATED), "id").to_string();
        let run = app.post(&format!("{o}/tools/run"), &auth, json!({"toolKey": "dns", "assetId": asset})).await;
        let report = s(run.ok(StatusCode::ACCEPTED), "reportId").to_string();
        let r = app.post(&format!("{o}/agent-enrollments"), &auth, json!({"name": format!("{MARK} hosts")})).await;
        let created = r.ok(StatusCode::CREATED);
        let (enrollment, token) = (s(created, "id").to_string(), s(created, "token").to_string());

        // Findings: the advisories, then the host; its HIGH finding raises an alert with deliveries.
        crate::vulns::import_all(app).await;
        let r = crate::agents::report(app, &token, host_report("i-victim", &format!("{MARK}-db1"), "v1")).await;
        let agent = s(r.ok(StatusCode::OK), "agentId").to_string();
        let alerts = app.get(&format!("{o}/alerts"), &auth).await;
        assert_eq!(alerts.items().len(), 1, "the victim's one alert: {}", alerts.text);
        let alert = alerts.ids()[0].clone();
        let deliveries = app.get(&format!("{o}/alerts/{alert}/deliveries"), &auth).await;
        let delivery = deliveries.ids().first().cloned().unwrap_or_else(|| panic!("no delivery: {}", deliveries.text));

        let mut victim = Victim {
            owner,
            org,
            owner_key,
            key_id,
            member,
            viewer,
            viewer_key,
            asset,
            rule,
            report,
            enrollment,
            token,
            agent,
            alert,
            event: String::new(),
            delivery,
            revoked_key,
            drifter_email,
            secrets: Vec::new(),
        };
        let hawk = victim.owner_hawk();
        let events = call(app, &hawk, &Method::GET, &format!("/v2/alerts/{}/events", victim.alert), None).await;
        assert_eq!(events.status, StatusCode::OK, "{}", events.text);
        victim.event = s(&events.body["events"][0], "id").to_string();
        // A suppression for one agent, so that lifting it is a valid request of the victim's.
        let sup = call(
            app,
            &hawk,
            &Method::POST,
            &format!("/v2/vulnerabilities/{CVE}/suppress"),
            Some(&json!({"reason": format!("{MARK} reason"), "agentId": victim.agent})),
        )
        .await;
        assert_eq!(sup.status, StatusCode::OK, "{}", sup.text);

        victim.secrets = [
            MARK,
            &victim.org,
            &victim.owner.id,
            &victim.member.id,
            &victim.viewer.id,
            &victim.asset,
            &victim.rule,
            &victim.report,
            &victim.enrollment,
            &victim.token,
            &victim.agent,
            &victim.alert,
            &victim.event,
            &victim.delivery,
            &owner_key_id,
            &victim.owner_key,
            &victim.key_id,
            &ci_key,
            &revoked_id,
            &victim.revoked_key,
            &victim.viewer_key,
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        victim
    }

    /// The value of path parameter `name` in `template`, and whether it names one of the victim's resources.
    fn param(&self, template: &str, name: &str) -> (String, bool) {
        let resource = |v: &String| (v.clone(), true);
        match name {
            "orgId" => resource(&self.org),
            "assetId" => resource(&self.asset),
            "ruleId" => resource(&self.rule),
            "reportId" => resource(&self.report),
            "alertId" => resource(&self.alert),
            "deliveryId" => resource(&self.delivery),
            "enrollmentId" => resource(&self.enrollment),
            "agentId" | "server" => resource(&self.agent),
            "eventId" => resource(&self.event),
            "keyId" => resource(&self.key_id),
            "userId" => resource(&self.member.id),
            // `{id}` is the resource of the collection it follows.
            "id" if template.contains("/agents/{id}") => resource(&self.agent),
            "id" if template.contains("/alerts/{id}") => resource(&self.alert),
            "cve" => (CVE.to_string(), false),
            "pkg" => (PACKAGE.to_string(), false),
            other => panic!(
                "the path parameter `{{{other}}}` of {template} has no victim resource: create one in \
                 `Victim::new` and map it in `Victim::param`"
            ),
        }
    }

    /// `template` with every parameter filled; whether it names a victim resource.
    fn fill(&self, template: &str) -> (String, bool) {
        let mut out = String::new();
        let mut rest = template;
        let mut names_victim = false;
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').expect("a closing brace") + start;
            out.push_str(&rest[..start]);
            let (value, resource) = self.param(template, &rest[start + 1..end]);
            out.push_str(&value);
            names_victim |= resource;
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        (out, names_victim)
    }
}

/// A request body the victim could send, and what an outsider acting in its own organization gets when the
/// body names the victim's resources.
struct Bodied {
    json: Value,
    outsider: Option<StatusCode>,
}

/// The body of every operation that takes one: valid for the victim, so that a refusal is isolation and
/// never validation.
fn body_for(method: &Method, template: &str, v: &Victim) -> Option<Bodied> {
    let plain = |json: Value| Some(Bodied { json, outsider: None });
    let rule =
        json!({"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gte", "value": 75});
    match (method.as_str(), template) {
        ("POST", "/api/users/me/api-keys") => plain(json!({"name": "matrix"})),
        ("POST", "/api/users/me/api-keys/{keyId}/rotate") => plain(json!({"graceSeconds": 0})),
        ("POST", "/api/orgs") => plain(json!({"name": "Matrix Org"})),
        ("POST", "/api/orgs/{orgId}/members") => plain(json!({"email": v.drifter_email, "role": "VIEWER"})),
        ("PATCH", "/api/orgs/{orgId}/members/{userId}") => plain(json!({"role": "VIEWER"})),
        ("PATCH", "/api/orgs/{orgId}/settings") => plain(json!({"monitorIntervalMinutes": 60})),
        ("PUT", "/api/orgs/{orgId}/plan") => plain(json!({"plan": "PRO"})),
        ("POST", "/api/orgs/{orgId}/agent-enrollments") => plain(json!({"name": "matrix"})),
        ("POST", "/api/agent/report") => plain(host_report("i-victim", &format!("{MARK}-db1"), "v2")),
        ("POST", "/api/orgs/{orgId}/assets") => plain(json!({"type": "DOMAIN", "value": "matrix.example.com"})),
        ("PATCH", "/api/orgs/{orgId}/assets/{assetId}") => plain(json!({"label": "pwned", "isMonitored": true})),
        ("POST", "/api/orgs/{orgId}/alert-rules") => {
            plain(json!({"name": "matrix", "condition": rule, "severity": "LOW"}))
        }
        ("PATCH", "/api/orgs/{orgId}/alert-rules/{ruleId}") => plain(json!({"name": "pwned", "enabled": false})),
        ("POST", "/api/orgs/{orgId}/alert-rules/test") => plain(json!({"condition": rule})),
        ("PATCH", "/api/orgs/{orgId}/alerts/{alertId}") => plain(json!({"status": "ACKNOWLEDGED", "note": "matrix"})),
        ("POST", "/api/orgs/{orgId}/tools/run") => plain(json!({"toolKey": "dns", "assetId": v.asset})),
        ("POST", "/v2/organizations/members") => plain(json!({"email": v.drifter_email, "role": "reader"})),
        // Unknown alerts are left out of the answer, so in the caller's own organization this is a 200
        // that dismisses nothing.
        ("POST", "/v2/alerts/dismiss") => Some(Bodied {
            json: json!({"ids": [v.alert], "dismissReason": "OTHER", "dismissReasonText": "matrix"}),
            outsider: Some(StatusCode::OK),
        }),
        ("POST", "/v2/vulnerabilities/{cve}/suppress") => Some(Bodied {
            json: json!({"reason": "matrix", "agentId": v.agent}),
            outsider: Some(StatusCode::NOT_FOUND),
        }),
        ("POST", "/v2/vulnerabilities/{cve}/unsuppress") => {
            Some(Bodied { json: json!({"agentId": v.agent}), outsider: Some(StatusCode::NOT_FOUND) })
        }
        _ => None,
    }
}

/// Which family an operation belongs to, from the schemes its document entry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `/api/orgs/{orgId}/…`: a member of the organization in the path.
    Org,
    /// Other `/api` routes: the caller's own account.
    User,
    /// `/v2` and `/help`: Hawk only, in the organization named by `ext`.
    ThreatStack,
    /// No user credential (no scheme of [`USER_SCHEMES`]): an agent's enrollment token.
    Agent,
}

/// One operation of the document, ready to call.
struct Op {
    method: Method,
    template: String,
    family: Family,
    uri: String,
    body: Option<Value>,
    names_victim: bool,
    outsider: Option<StatusCode>,
    /// The first 2xx status the document gives.
    success: StatusCode,
}

impl Op {
    fn read(&self) -> bool {
        self.method == Method::GET
    }
}

/// Every operation of the document but the public ones, filled in for the victim; and how many the document
/// has in all.
fn operations(doc: &Value, v: &Victim) -> (Vec<Op>, usize) {
    let mut ops = Vec::new();
    let mut total = 0;
    let mut public_seen = BTreeSet::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let Ok(m) = method.to_ascii_uppercase().parse::<Method>() else { continue };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                continue;
            }
            total += 1;
            let schemes: BTreeSet<String> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_object())
                .flat_map(|r| r.keys().cloned())
                .collect();
            if let Some((.., why)) = PUBLIC.iter().find(|(pm, pp, _)| *pm == method && pp == template) {
                assert!(schemes.is_empty(), "{method} {template} is listed as public ({why}) but takes {schemes:?}");
                public_seen.insert((method.clone(), template.clone()));
                continue;
            }
            let threat_stack = template.starts_with("/v2") || template.starts_with("/help");
            let family = if !schemes.iter().any(|s| USER_SCHEMES.contains(&s.as_str())) {
                Family::Agent
            } else if schemes.iter().all(|s| s == "hawk") {
                assert!(threat_stack, "{method} {template} takes Hawk alone outside /v2 and /help");
                Family::ThreatStack
            } else if template.contains("{orgId}") {
                Family::Org
            } else {
                Family::User
            };
            assert_eq!(threat_stack, family == Family::ThreatStack, "{method} {template}: {schemes:?}");
            let (uri, names_victim) = v.fill(template);
            let bodied = body_for(&m, template, v);
            let takes_body = op.get("requestBody").is_some();
            match (&bodied, takes_body) {
                (None, true) => panic!(
                    "{method} {template} takes a body: add one the victim could send to `body_for` \
                     (a refused body would hide a leak)"
                ),
                (Some(_), false) => panic!("{method} {template} documents no body, yet `body_for` has one"),
                _ => {}
            }
            let success = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter(|k| k.starts_with('2'))
                .filter_map(|k| k.parse::<u16>().ok())
                .min()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or_else(|| panic!("{method} {template} documents no 2xx response"));
            ops.push(Op {
                method: m,
                template: template.clone(),
                family,
                uri,
                names_victim,
                outsider: bodied.as_ref().and_then(|b| b.outsider),
                body: bodied.map(|b| b.json),
                success,
            });
        }
    }
    for (m, p, _) in PUBLIC {
        assert!(
            public_seen.contains(&(m.to_string(), p.to_string())),
            "{m} {p} is listed as public but not documented"
        );
    }
    for (m, p, ..) in VIEWER_EXCEPTIONS {
        assert!(
            ops.iter().any(|op| op.method.as_str().eq_ignore_ascii_case(m) && op.template == *p),
            "the viewer exception {m} {p} names no documented operation"
        );
    }
    (ops, total)
}

/// The attackers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    /// A member of another organization, with a session.
    OtherSession,
    /// The same, with an API key.
    OtherKey,
    /// The same over Hawk, naming its own organization in `ext`.
    OtherHawkOwnExt,
    /// The same over Hawk without `ext`.
    OtherHawkNoExt,
    /// The same over Hawk, naming the victim's organization in `ext`.
    OtherHawkVictimExt,
    /// A VIEWER of the victim's organization (a session on `/api`, Hawk with the victim's `ext` elsewhere).
    Viewer,
    /// The victim owner's revoked key, as `X-API-Key`.
    RevokedKey,
    /// The same key signing Hawk with the victim's `ext`.
    RevokedHawk,
    /// The victim owner's expired session.
    ExpiredSession,
    /// The victim's agent enrollment token as a Bearer token.
    AgentBearer,
    /// The same as `X-API-Key`.
    AgentKey,
}

struct Attacker {
    who: Who,
    api: Cred,
    threat_stack: Cred,
}

/// What isolation demands of `who` calling `op`.
fn expected(who: Who, op: &Op) -> StatusCode {
    use Who::*;
    let viewer = || {
        if let Some((.., status, _)) =
            VIEWER_EXCEPTIONS.iter().find(|(m, p, ..)| op.method.as_str().eq_ignore_ascii_case(m) && *p == op.template)
        {
            return StatusCode::from_u16(*status).expect("a status");
        }
        if op.read() { op.success } else { StatusCode::FORBIDDEN }
    };
    match (op.family, who) {
        (Family::Agent, _) => StatusCode::UNAUTHORIZED,
        (_, RevokedKey | RevokedHawk | ExpiredSession | AgentBearer | AgentKey | OtherHawkVictimExt) => {
            StatusCode::UNAUTHORIZED
        }
        (Family::Org, OtherSession | OtherKey | OtherHawkNoExt) => StatusCode::NOT_FOUND,
        // The organization in `ext` is the one a request acts in; another one in the path is refused as a
        // credential that does not fit the request, whether or not that organization exists.
        (Family::Org, OtherHawkOwnExt) => StatusCode::UNAUTHORIZED,
        (Family::Org | Family::ThreatStack, Viewer) => viewer(),
        (Family::User, _) if op.names_victim => StatusCode::NOT_FOUND,
        (Family::User, _) => op.success,
        (Family::ThreatStack, OtherSession | OtherKey | OtherHawkNoExt) => StatusCode::UNAUTHORIZED,
        (Family::ThreatStack, OtherHawkOwnExt) if op.names_victim => StatusCode::NOT_FOUND,
        (Family::ThreatStack, OtherHawkOwnExt) => op.outsider.unwrap_or(op.success),
    }
}

/// Problems with one answer: status, the family's shape, and (for outsiders) any of the victim's data.
fn check(who: Who, op: &Op, r: &Reply, v: &Victim) -> Vec<String> {
    let mut out = Vec::new();
    let what = format!("{who:?} {} {}", op.method, op.template);
    let want = expected(who, op);
    if r.status != want {
        out.push(format!("{what}: {} where {want} is due; body: {}", r.status, r.text));
    }
    let threat_stack = op.family == Family::ThreatStack;
    if !r.status.is_success() {
        let shaped = if threat_stack {
            r.body["errors"].as_array().is_some_and(|e| !e.is_empty() && e.iter().all(Value::is_string))
        } else {
            r.body["success"] == json!(false) && !r.message().is_empty() && r.body.get("data").is_none()
        };
        if !shaped {
            out.push(format!("{what}: a {} not in the family's error shape: {}", r.status, r.text));
        }
    } else if !threat_stack && r.status != StatusCode::NO_CONTENT && r.body["success"] != json!(true) {
        out.push(format!("{what}: a {} without the success envelope: {}", r.status, r.text));
    }
    if who != Who::Viewer {
        let headers: Vec<String> = r
            .headers
            .iter()
            .filter(|(name, _)| *name != "server-authorization")
            .map(|(n, val)| format!("{n}: {}", String::from_utf8_lossy(val.as_bytes())))
            .collect();
        for secret in &v.secrets {
            if r.text.contains(secret.as_str()) {
                out.push(format!("{what}: LEAK of `{secret}` in the body: {}", r.text));
            }
            if let Some(h) = headers.iter().find(|h| h.contains(secret.as_str())) {
                out.push(format!("{what}: LEAK of `{secret}` in the header `{h}`"));
            }
        }
    }
    out
}

/// An answer's error text in either family's shape.
fn error_text(r: &Reply) -> String {
    match r.body["errors"].as_array() {
        Some(errors) => Value::Array(errors.clone()).to_string(),
        None => r.message().to_string(),
    }
}

/// `uri` with every id of the victim replaced by a fresh one that names nothing.
fn ghost(uri: &str, v: &Victim) -> String {
    v.secrets.iter().filter(|x| x.as_str() != MARK).fold(uri.to_string(), |u, x| u.replace(x.as_str(), &random_id()))
}

/// Removes the fields that change by being read (keys' last use).
fn stable(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("lastUsedAt");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// The victim's data as the victim reads it. The audit log leaves out what the viewer did to its own API keys
/// (recorded in each of its organizations, the victim's included): that is the viewer's own account.
async fn snapshot(app: &TestApp, v: &Victim) -> BTreeMap<String, Value> {
    let o = format!("/api/orgs/{}", v.org);
    let mut out = BTreeMap::new();
    let api = [
        o.clone(),
        format!("{o}/members"),
        format!("{o}/settings"),
        format!("{o}/usage"),
        format!("{o}/assets"),
        format!("{o}/assets/{}", v.asset),
        format!("{o}/alert-rules"),
        format!("{o}/alerts"),
        format!("{o}/alerts/{}", v.alert),
        format!("{o}/alerts/{}/deliveries", v.alert),
        format!("{o}/tools/reports"),
        format!("{o}/agent-enrollments"),
        format!("{o}/agents"),
        format!("{o}/agents/{}", v.agent),
        format!("{o}/audit-log?limit=100"),
        "/api/users/me/api-keys".to_string(),
    ];
    for path in api {
        let r = app.get(&path, &v.owner.auth()).await;
        let mut data = stable(r.ok(StatusCode::OK).clone());
        if path.contains("/audit-log")
            && let Some(entries) = data.as_array_mut()
        {
            entries.retain(|e| !(e["actorUserId"] == v.viewer.id.as_str() && e["targetType"] == "api_key"));
        }
        out.insert(path, data);
    }
    let hawk = v.owner_hawk();
    for path in ["/v2/vulnerabilities/suppressed", "/v2/alerts", "/v2/organizations/members", "/v2/agents"] {
        let r = call(app, &hawk, &Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        out.insert(path.to_string(), stable(r.body.clone()));
    }
    out
}

/// The differences between two snapshots.
fn changes(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<String> {
    before
        .iter()
        .filter(|(k, val)| after.get(*k) != Some(val))
        .map(|(k, val)| format!("{k} changed:\n  before: {val}\n  after:  {}", after.get(k).unwrap_or(&Value::Null)))
        .collect()
}

both!(every_documented_operation_keeps_tenants_apart, matrix_case, |c: &mut tlink_server::Config| c.tools =
    loopback_config());
async fn matrix_case(app: TestApp) {
    let v = Victim::new(&app).await;

    // The other organization: a real tenant with a host of its own with the same findings.
    let mallory = app.user("mallory@example.com", Some("Mallory Org")).await;
    let m_org = mallory.org().to_string();
    let m_key = app.api_key(&mallory.auth(), "mallory").await;
    let r = app.post(&format!("/api/orgs/{m_org}/agent-enrollments"), &mallory.auth(), json!({"name": "m"})).await;
    let m_token = s(r.ok(StatusCode::CREATED), "token").to_string();
    crate::agents::report(&app, &m_token, host_report("i-mallory", "mallory-db1", "m1")).await.ok(StatusCode::OK);

    let hawk =
        |ext: Option<&str>| Cred::Hawk { id: mallory.id.clone(), key: m_key.clone(), ext: ext.map(str::to_string) };
    let expired = access_token(&v.owner.id, -3600);
    let viewer_hawk = Cred::Hawk { id: v.viewer.id.clone(), key: v.viewer_key.clone(), ext: Some(v.org.clone()) };
    let revoked_hawk = Cred::Hawk { id: v.owner.id.clone(), key: v.revoked_key.clone(), ext: Some(v.org.clone()) };
    let same = |who, c: Cred| Attacker { who, api: c.clone(), threat_stack: c };
    let attackers = [
        same(Who::OtherSession, Cred::Bearer(mallory.access.clone())),
        same(Who::OtherKey, Cred::Key(m_key.clone())),
        same(Who::OtherHawkOwnExt, hawk(Some(&m_org))),
        same(Who::OtherHawkNoExt, hawk(None)),
        same(Who::OtherHawkVictimExt, hawk(Some(&v.org))),
        Attacker { who: Who::Viewer, api: Cred::Bearer(v.viewer.access.clone()), threat_stack: viewer_hawk },
        same(Who::RevokedKey, Cred::Key(v.revoked_key.clone())),
        same(Who::RevokedHawk, revoked_hawk),
        same(Who::ExpiredSession, Cred::Bearer(expired)),
        same(Who::AgentBearer, Cred::Bearer(v.token.clone())),
        same(Who::AgentKey, Cred::Key(v.token.clone())),
    ];

    // Controls: each outsider's credential works where it belongs, and a session token minted like the
    // expired one but still valid is accepted, so each refusal below is about what it tests.
    let own = format!("/api/orgs/{m_org}");
    for a in &attackers[..4] {
        let r = call(&app, &a.api, &Method::GET, &own, None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?} in its own organization: {}", a.who, r.text);
    }
    let r = call(&app, &hawk(Some(&m_org)), &Method::GET, "/help/hawk/self-test", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let victim_org = format!("/api/orgs/{}", v.org);
    call(&app, &attackers[5].api, &Method::GET, &victim_org, None).await.ok(StatusCode::OK);
    let r = call(&app, &attackers[5].threat_stack, &Method::GET, "/help/hawk/self-test", None).await;
    assert_eq!(r.status, StatusCode::OK, "the viewer over Hawk: {}", r.text);
    let fresh = Cred::Bearer(access_token(&v.owner.id, 600));
    call(&app, &fresh, &Method::GET, &victim_org, None).await.ok(StatusCode::OK);

    let doc = app.get("/api/openapi.json", &Auth::None).await;
    doc.expect_status(StatusCode::OK);
    let (ops, total) = operations(&doc.body, &v);
    let baseline = snapshot(&app, &v).await;

    let mut failures = Vec::new();
    let mut per_attacker = Vec::new();
    let mut covered = BTreeSet::new();
    let mut calls = 0;
    let mut ghost_calls = 0;
    // The viewer's answers that carry the victim's data: proof that the scan for leaks sees it where it is.
    let mut seen_by_viewer = 0;
    for a in &attackers {
        let mut made = 0;
        for op in &ops {
            let cred = if op.family == Family::ThreatStack { &a.threat_stack } else { &a.api };
            let r = call(&app, cred, &op.method, &op.uri, op.body.as_ref()).await;
            failures.extend(check(a.who, op, &r, &v));
            if a.who == Who::Viewer && r.status.is_success() && r.text.contains(MARK) {
                seen_by_viewer += 1;
            }
            // An outsider refused about the victim's resources gets the same answer for ids that name
            // nothing: there is nothing to probe.
            let outsider = matches!(
                a.who,
                Who::OtherSession
                    | Who::OtherKey
                    | Who::OtherHawkOwnExt
                    | Who::OtherHawkNoExt
                    | Who::OtherHawkVictimExt
            );
            if outsider && op.names_victim && !r.status.is_success() {
                let uri = ghost(&op.uri, &v);
                let g = call(&app, cred, &op.method, &uri, op.body.as_ref()).await;
                ghost_calls += 1;
                if (g.status, error_text(&g)) != (r.status, error_text(&r)) {
                    failures.push(format!(
                        "{:?} {} {}: {} `{}` for the victim's ids but {} `{}` for ids that name nothing",
                        a.who,
                        op.method,
                        op.template,
                        r.status,
                        error_text(&r),
                        g.status,
                        error_text(&g)
                    ));
                }
            }
            covered.insert((op.method.clone(), op.template.clone()));
            made += 1;
        }
        calls += made;
        per_attacker.push(format!("{:?} {made}", a.who));
        for change in changes(&baseline, &snapshot(&app, &v).await) {
            failures.push(format!("after {:?}: the victim's {change}", a.who));
        }
    }
    eprintln!(
        "isolation matrix: {} operations covered ({total} documented, {} public), {calls} calls (per attacker: {}) \
         and {ghost_calls} with ids that name nothing",
        covered.len(),
        PUBLIC.len(),
        per_attacker.join(", ")
    );
    assert!(failures.is_empty(), "{} problems in {calls} calls:\n{}", failures.len(), failures.join("\n"));
    assert!(seen_by_viewer >= 10, "the viewer's reads carry the victim's data only {seen_by_viewer} times");
    assert_eq!(covered.len(), total - PUBLIC.len(), "every documented operation but the public ones is covered");

    // The victim's data is still the victim's, and still there.
    assert_eq!(changes(&baseline, &snapshot(&app, &v).await), Vec::<String>::new());
    let asset = app.get(&format!("{victim_org}/assets/{}", v.asset), &v.owner.auth()).await;
    assert_eq!(asset.ok(StatusCode::OK)["label"], format!("{MARK} label"));
}
