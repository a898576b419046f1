//! Storage tests, run against SQLite always and against PostgreSQL when `TLINK_TEST_DATABASE_URL` is set
//! (each test in its own schema).

use tlink_domain::{AssetType, OrgId, Plan, Role, parse};
mod audit;
mod overview;
mod queue;
mod transfer;

use tlink_store::{
    AssetFilter, DbError, MemberChange, NewAsset, NewUser, PageQuery, RotateOutcome, Store, UserId, params,
};

/// A fresh store on each backend that is available.
pub(crate) async fn stores() -> Vec<(&'static str, Store)> {
    let mut out = Vec::new();
    let dir = std::env::temp_dir().join(format!("tlink-store-{}", uuid::Uuid::now_v7().simple()));
    let sqlite = Store::connect(&format!("sqlite://{}", dir.join("t.db").display()), 2).await.expect("sqlite opens");
    sqlite.migrate().await.expect("sqlite migrates");
    out.push(("sqlite", sqlite));
    if let Ok(url) = std::env::var("TLINK_TEST_DATABASE_URL") {
        let schema = format!("s_{}", uuid::Uuid::now_v7().simple());
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("postgres reachable");
        tokio::spawn(conn);
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
        let mut cfg: tokio_postgres::Config = url.parse().expect("postgres url");
        cfg.options(format!("-c search_path={schema}"));
        let pg = Store::from_db(tlink_store::Db::connect_pg(cfg, 4).expect("pool"));
        pg.migrate().await.expect("postgres migrates");
        out.push(("postgres", pg));
    }
    out
}

pub(crate) async fn user(store: &Store, email: &str) -> (UserId, OrgId) {
    let (u, org) = store
        .create_user(
            NewUser { email: email.into(), name: None, password_hash: "x".into(), is_operator: false },
            Some("Org"),
        )
        .await
        .expect("user created");
    (u.id, org.expect("org created"))
}

pub(crate) fn asset(kind: AssetType, value: &str) -> NewAsset {
    NewAsset {
        value: parse(kind, value).expect("valid asset"),
        label: None,
        is_monitored: false,
        monitor_interval_minutes: None,
        next_scan_at: None,
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for (name, store) in stores().await {
        assert!(store.migrate().await.expect("second run").is_empty(), "{name}: nothing left to apply");
        store.ping().await.expect("ping");
    }
}

#[tokio::test]
async fn duplicates_are_unique_violations() {
    for (name, store) in stores().await {
        user(&store, "a@example.com").await;
        let err = store
            .create_user(
                NewUser { email: "a@example.com".into(), name: None, password_hash: "y".into(), is_operator: false },
                Some("Org"),
            )
            .await
            .expect_err("duplicate email");
        assert!(matches!(err, DbError::Unique(_)), "{name}: {err:?}");
        // The failed transaction left no orphan organization behind.
        let (u, org) = user(&store, "b@example.com").await;
        assert_eq!(store.all_orgs_for_user(&u, 10).await.expect("orgs").len(), 1, "{name}");
        store.create_asset(&org, asset(AssetType::Ip, "10.0.0.1")).await.expect("asset");
        let err = store.create_asset(&org, asset(AssetType::Ip, "10.0.0.1")).await.expect_err("duplicate asset");
        assert!(matches!(err, DbError::Unique(_)), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn org_scoped_methods_never_cross_tenants() {
    for (name, store) in stores().await {
        let (_, org_a) = user(&store, "a@example.com").await;
        let (_, org_b) = user(&store, "b@example.com").await;
        let a = store.create_asset(&org_a, asset(AssetType::Domain, "example.com")).await.expect("asset");
        assert!(store.get_asset(&org_b, &a.id).await.expect("get").is_none(), "{name}");
        let patch =
            tlink_store::AssetPatch { label: Some(Some("x".into())), is_monitored: Some(true), ..Default::default() };
        assert!(store.update_asset(&org_b, &a.id, patch).await.expect("update").is_none(), "{name}");
        assert!(!store.delete_asset(&org_b, &a.id).await.expect("delete"), "{name}");
        let page = store.list_assets(&org_b, &AssetFilter::default(), &PageQuery::first(100)).await.expect("list");
        assert!(page.items.is_empty(), "{name}");
        assert!(store.get_asset(&org_a, &a.id).await.expect("get").is_some(), "{name}: untouched");
    }
}

#[tokio::test]
async fn keyset_pages_cover_every_row_once() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, "a@example.com").await;
        for i in 0..7 {
            store.create_asset(&org, asset(AssetType::Ip, &format!("10.0.0.{i}"))).await.expect("asset");
        }
        let mut seen = Vec::new();
        let mut page = PageQuery::first(3);
        loop {
            let p = store.list_assets(&org, &AssetFilter::default(), &page).await.expect("page");
            assert!(p.items.len() <= 3);
            seen.extend(p.items.iter().map(|a| a.value.clone()));
            match p.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).rev().map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(seen, expected, "{name}: newest first, each once");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family() {
    for (name, store) in stores().await {
        let (u, _) = user(&store, "a@example.com").await;
        let far = tlink_store::now_millis() + 60_000;
        store.start_refresh_family(&u, "h1", far).await.expect("login");
        assert!(matches!(store.rotate_refresh("h1", "h2", far).await.expect("rotate"), RotateOutcome::Rotated { .. }));
        assert!(matches!(store.rotate_refresh("h1", "h3", far).await.expect("reuse"), RotateOutcome::Reused), "{name}");
        // The reuse revoked the live successor too.
        assert!(
            matches!(store.rotate_refresh("h2", "h4", far).await.expect("after"), RotateOutcome::Invalid),
            "{name}"
        );
        assert!(matches!(store.rotate_refresh("nope", "h5", far).await.expect("unknown"), RotateOutcome::Invalid));
        store.start_refresh_family(&u, "old", tlink_store::now_millis() - 1).await.expect("expired");
        assert!(matches!(store.rotate_refresh("old", "h6", far).await.expect("expired"), RotateOutcome::Invalid));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_of_one_token_let_at_most_one_through() {
    for (name, store) in stores().await {
        let (u, _) = user(&store, "a@example.com").await;
        let far = tlink_store::now_millis() + 60_000;
        store.start_refresh_family(&u, "t0", far).await.expect("login");
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move { s.rotate_refresh("t0", &format!("n{i}"), far).await })
            })
            .collect();
        let mut rotated = 0;
        for t in tasks {
            if matches!(t.await.expect("join").expect("rotate"), RotateOutcome::Rotated { .. }) {
                rotated += 1;
            }
        }
        assert!(rotated <= 1, "{name}: {rotated} concurrent rotations succeeded");
    }
}

#[tokio::test]
async fn the_last_owner_stays() {
    for (name, store) in stores().await {
        let (owner, org) = user(&store, "a@example.com").await;
        let (other, _) = user(&store, "b@example.com").await;
        assert_eq!(store.set_member_role(&org, &owner, Role::Admin).await.expect("demote"), MemberChange::LastOwner);
        assert_eq!(store.remove_member(&org, &owner).await.expect("remove"), MemberChange::LastOwner, "{name}");
        assert_eq!(store.remove_member(&org, &other).await.expect("not a member"), MemberChange::NotFound);
        store.add_member(&org, &other, Role::Viewer).await.expect("add");
        assert!(matches!(store.add_member(&org, &other, Role::Viewer).await, Err(DbError::Unique(_))), "{name}");
        assert_eq!(store.set_member_role(&org, &other, Role::Owner).await.expect("promote"), MemberChange::Done);
        assert_eq!(store.set_member_role(&org, &owner, Role::Member).await.expect("now ok"), MemberChange::Done);
        assert_eq!(store.member_role(&org, &owner).await.expect("role"), Some(Role::Member), "{name}");
        assert!(store.set_org_plan(&org, Plan::Pro).await.expect("plan"));
        assert_eq!(store.org_for_member(&org, &other).await.expect("org").expect("member").plan, Plan::Pro);
    }
}

#[tokio::test]
async fn key_lookups_follow_changes_made_through_the_store_at_once() {
    for (name, store) in stores().await {
        let (owner, org) = user(&store, "owner@example.com").await;
        let (member, _) = user(&store, "member@example.com").await;
        store.add_member(&org, &member, Role::Viewer).await.expect("member added");
        let key = tlink_store::NewApiKey {
            name: "ci".into(),
            prefix: "tlpro_cache123".into(),
            key_hash: "h".repeat(64),
            sealed_key: None,
        };
        let id = store.create_api_key(&member, key).await.expect("key created").expect("under the cap").id;
        let lookup = || async { store.api_key_candidates("tlpro_cache123", Some(&org)).await.expect("lookup") };

        let first = lookup().await;
        assert_eq!(first.len(), 1, "{name}");
        assert_eq!(first[0].role, Some(Role::Viewer), "{name}");
        assert_eq!(first[0].limits.as_ref().map(|l| l.plan), Some(Plan::Free), "{name}");

        // Each change is seen by the very next lookup, though the previous one is still fresh in memory.
        assert_eq!(store.set_member_role(&org, &member, Role::Admin).await.expect("role"), MemberChange::Done);
        assert_eq!(lookup().await[0].role, Some(Role::Admin), "{name}: role change");
        assert!(store.set_org_plan(&org, Plan::Pro).await.expect("plan"), "{name}");
        assert_eq!(lookup().await[0].limits.as_ref().map(|l| l.plan), Some(Plan::Pro), "{name}: plan change");
        assert_eq!(store.remove_member(&org, &member).await.expect("remove"), MemberChange::Done);
        assert_eq!(lookup().await[0].role, None, "{name}: removed member");
        assert!(store.revoke_api_key(&member, &id).await.expect("revoke"), "{name}");
        assert!(lookup().await.is_empty(), "{name}: a revoked key is refused at once");
        let _ = owner;
    }
}

/// An asset's detail holds the newest COMPLETED report of each tool (ties on time go to the greater id),
/// sorted by tool, whatever came after it; another organization sees neither the asset nor its reports.
#[tokio::test]
async fn an_asset_detail_holds_the_latest_completed_report_of_each_tool() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, &format!("d-{name}@example.com")).await;
        let (_, other) = user(&store, &format!("e-{name}@example.com")).await;
        let a = store.create_asset(&org, asset(AssetType::Domain, "detail.example")).await.expect("asset");
        let (got, latest) = store.asset_detail(&org, &a.id).await.expect("read").expect("found");
        assert!(got.id == a.id && latest.is_empty(), "{name}: a new asset has no results");

        let reports: [(&str, &str, &str, i64); 8] = [
            ("r1", "whois", "COMPLETED", 10),
            ("r2", "dns", "COMPLETED", 10),
            ("r3", "dns", "COMPLETED", 20),
            ("r4", "dns", "FAILED", 30),
            ("r5", "dns", "RUNNING", 40),
            ("r6", "ssl", "COMPLETED", 5),
            ("r7", "ssl", "COMPLETED", 5),
            ("r8", "exposure", "QUEUED", 50),
        ];
        for (id, tool, status, at) in reports {
            store
                .db()
                .execute(
                    "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, origin, status, attempts, \
                     result, created_at, updated_at) VALUES ($1, $2, $3, 'detail.example', 'DOMAIN', $4, 'MANUAL', \
                     $5, 1, $6, $7, $7)",
                    &params![id, org.as_str(), tool, a.id.as_str(), status, format!("{{\"n\":\"{id}\"}}"), at],
                )
                .await
                .expect("report");
        }
        let (_, latest) = store.asset_detail(&org, &a.id).await.expect("read").expect("found");
        let ids: Vec<(&str, &str)> = latest.iter().map(|r| (r.tool.as_str(), r.id.as_str())).collect();
        assert_eq!(ids, [("dns", "r3"), ("ssl", "r7"), ("whois", "r1")], "{name}");
        assert_eq!(latest[0].result.as_deref(), Some("{\"n\":\"r3\"}"), "{name}: results are read");
        let again: Vec<String> =
            store.latest_reports(&org, &a.id).await.expect("latest").iter().map(|r| r.id.to_string()).collect();
        assert_eq!(again, ["r3", "r7", "r1"], "{name}");

        assert!(store.asset_detail(&other, &a.id).await.expect("read").is_none(), "{name}");
        assert!(store.latest_reports(&other, &a.id).await.expect("read").is_empty(), "{name}");
    }
}
