//! The operations the command line and the JSON API share (`tlink_server::ops`): the same inputs give the
//! same result, and the same refusal, whichever front end is used.

mod common;

use common::{Env, http};
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";

fn tlink(env: &Env, args: &[&str]) -> (bool, String) {
    let out = env.cmd().args(args).output().expect("running tlink");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn users_and_plans_answer_the_same_from_the_cli_and_http() {
    let dir = std::env::temp_dir().join(format!("tlink-ops-{}-{}", std::process::id(), tlink_store::now_millis()));
    std::fs::create_dir_all(&dir).expect("a data directory");
    let env = Env { dir: dir.clone() };

    // Create a user: the command line's checks are the operation's.
    let (ok, out) = tlink(&env, &["user", "create", "--email", "not-an-email", "--password", PASSWORD]);
    assert!(!ok && out.contains("--email"), "{out}");
    let (ok, out) = tlink(&env, &["user", "create", "--email", "a@example.com", "--password", "short"]);
    assert!(!ok && out.contains("--password: must be 8 to 1024 characters"), "{out}");
    let (ok, out) = tlink(
        &env,
        &["user", "create", "--email", "A@Example.com", "--password", PASSWORD, "--org", "Acme", "--operator"],
    );
    assert!(ok, "{out}");
    let (ok, out) = tlink(&env, &["user", "create", "--email", "b@example.com", "--password", PASSWORD, "--org", "B"]);
    assert!(ok, "{out}");
    let (ok, out) = tlink(&env, &["user", "create", "--email", "a@example.com", "--password", PASSWORD]);
    assert!(!ok && out.contains("a user with this email already exists"), "{out}");

    let addr = common::free_port();
    let _server = env.serve(addr);
    // The user the command line made signs in over HTTP (its e-mail normalised the same way).
    let login =
        http(addr, "POST", "/api/auth/login", &[], Some(&json!({"email": "a@example.com", "password": PASSWORD})));
    assert_eq!(login.status, 200, "{:?}", login.body);
    let bearer = format!("Bearer {}", login.body["data"]["accessToken"].as_str().expect("token"));
    let auth = [("Authorization", bearer.as_str())];
    let me = http(addr, "GET", "/api/users/me", &auth, None);
    let org =
        me.body["data"]["organizations"][0]["id"].as_str().expect("the organization made with the user").to_string();
    let plan_path = format!("/api/orgs/{org}/plan");
    let usage_path = format!("/api/orgs/{org}/usage");

    // The same invalid change, refused the same way: the field by its JSON name or by its flag.
    let r = http(addr, "PUT", &plan_path, &auth, Some(&json!({"plan": "PRO", "requestsPerMinute": 50})));
    assert_eq!(r.status, 400);
    let http_why = r.body["errors"][0]["message"].as_str().expect("a reason").to_string();
    assert_eq!(r.body["errors"][0]["field"], "requestsPerMinute");
    let (ok, out) = tlink(&env, &["org", "set-plan", &org, "PRO", "--requests-per-minute", "50"]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("--requests-per-minute: {http_why}")), "{out}");

    // A change made by one front end is what the other reads.
    let (ok, out) = tlink(&env, &["org", "set-plan", &org, "ENTERPRISE", "--requests-per-minute", "77"]);
    assert!(ok, "{out}");
    let usage = http(addr, "GET", &usage_path, &auth, None);
    assert_eq!(usage.body["data"]["plan"], "ENTERPRISE", "{:?}", usage.body);
    assert_eq!(usage.body["data"]["requestsPerMinute"], 77, "{:?}", usage.body);
    let r = http(addr, "PUT", &plan_path, &auth, Some(&json!({"plan": "BUSINESS"})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (ok, out) = tlink(&env, &["org", "usage", &org]);
    assert!(ok && out.contains("plan: BUSINESS  requests/minute: 300"), "{out}");

    // Plans are the operator's: an owner who is not one is refused (and nothing changes) until the command
    // line makes them one.
    let login_b =
        http(addr, "POST", "/api/auth/login", &[], Some(&json!({"email": "b@example.com", "password": PASSWORD})));
    let bearer_b = format!("Bearer {}", login_b.body["data"]["accessToken"].as_str().expect("token"));
    let auth_b = [("Authorization", bearer_b.as_str())];
    let me_b = http(addr, "GET", "/api/users/me", &auth_b, None);
    let org_b = me_b.body["data"]["organizations"][0]["id"].as_str().expect("b's organization").to_string();
    let plan_b = format!("/api/orgs/{org_b}/plan");
    let r = http(addr, "PUT", &plan_b, &auth_b, Some(&json!({"plan": "ENTERPRISE"})));
    assert_eq!(r.status, 403, "{:?}", r.body);
    let (ok, out) = tlink(&env, &["org", "usage", &org_b]);
    assert!(ok && out.contains("plan: FREE"), "{out}");
    let (ok, out) = tlink(&env, &["user", "set-operator", "--email", "B@example.com"]);
    assert!(ok && out.contains("is now an instance operator"), "{out}");
    let r = http(addr, "PUT", &plan_b, &auth_b, Some(&json!({"plan": "PRO"})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (ok, out) = tlink(&env, &["user", "set-operator", "--email", "b@example.com", "--off"]);
    assert!(ok && out.contains("no longer"), "{out}");
    let r = http(addr, "PUT", &plan_b, &auth_b, Some(&json!({"plan": "BUSINESS"})));
    assert_eq!(r.status, 403, "{:?}", r.body);
    let (ok, out) = tlink(&env, &["user", "set-operator", "--email", "nobody@example.com"]);
    assert!(!ok && out.contains("not found"), "{out}");
    drop(_server);
    let _ = std::fs::remove_dir_all(&dir);
}
