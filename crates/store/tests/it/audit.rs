//! The audit log: entries are appended per organization, listed newest first in keyset pages, filtered, never
//! seen by another organization, and recorded in batches all or none.

use tlink_domain::OrgId;
use tlink_store::{AuditFilter, AuditRow, DbError, NewAuditEntry, PageQuery, Store, UserId, params};

use crate::{stores, user};

fn entry(org: &OrgId, by: Option<&UserId>, action: &str, target_type: &str, target_id: &str) -> NewAuditEntry {
    NewAuditEntry {
        org_id: org.clone(),
        actor_user_id: by.cloned(),
        actor: by.map_or_else(|| "tlink (command line)".to_string(), |u| format!("user {u}")),
        actor_key_prefix: None,
        action: action.into(),
        target_type: target_type.into(),
        target_id: target_id.into(),
        summary: format!("{action} {target_id}"),
        client_ip: None,
        detail: None,
        source: "api".into(),
    }
}

/// Every entry the filter lets through, walking the pages `limit` at a time; also checks each page's size.
async fn all(store: &Store, org: &OrgId, f: &AuditFilter, limit: u32) -> Vec<AuditRow> {
    let mut out = Vec::new();
    let mut page = PageQuery::first(limit);
    loop {
        let p = store.list_audit(org, f, &page).await.expect("list");
        assert!(p.items.len() <= limit as usize, "a page holds at most its limit");
        out.extend(p.items);
        match p.next {
            Some(next) => page.after = Some(next),
            None => return out,
        }
    }
}

fn actions(rows: &[AuditRow]) -> Vec<&str> {
    rows.iter().map(|r| r.action.as_str()).collect()
}

async fn count(store: &Store) -> i64 {
    let row = store.db().query_opt("SELECT COUNT(*) FROM audit_log", &[]).await.expect("count").expect("a row");
    row.i64(0).expect("an integer")
}

#[tokio::test]
async fn entries_are_listed_per_org_newest_first_in_pages_and_filtered() {
    for (name, store) in stores().await {
        let (alice, org_a) = user(&store, "alice@example.com").await;
        let (bob, org_b) = user(&store, "bob@example.com").await;

        let mut recorded = Vec::new();
        for e in [
            entry(&org_a, Some(&alice), "api_key.created", "api_key", "k1"),
            entry(&org_a, None, "plan.changed", "plan", org_a.as_str()),
            entry(&org_a, Some(&alice), "member.role_changed", "member", bob.as_str()),
            entry(&org_a, Some(&alice), "rule.created", "rule", "r1"),
            entry(&org_a, None, "api_key.revoked", "api_key", "k1"),
        ] {
            let sent = e.clone();
            let row = store.record_audit(e).await.expect("recorded");
            assert_eq!((&row.org_id, &row.action, &row.actor), (&sent.org_id, &sent.action, &sent.actor), "{name}");
            assert_eq!(uuid::Uuid::parse_str(&row.id).expect("a uuid").get_version_num(), 7, "{name}");
            assert!(row.created_at > 0, "{name}");
            recorded.push(row);
        }
        store.record_audit(entry(&org_b, Some(&bob), "api_key.created", "api_key", "k2")).await.expect("b1");
        store.record_audit(entry(&org_b, Some(&bob), "member.added", "member", alice.as_str())).await.expect("b2");

        // Newest first, two at a time, each entry once, exactly as recorded.
        let everything = all(&store, &org_a, &AuditFilter::default(), 2).await;
        let newest_first: Vec<AuditRow> = recorded.iter().rev().cloned().collect();
        assert_eq!(everything, newest_first, "{name}");
        let first = store.list_audit(&org_a, &AuditFilter::default(), &PageQuery::first(2)).await.expect("page");
        assert_eq!(actions(&first.items), ["api_key.revoked", "rule.created"], "{name}");
        let last = &first.items[1];
        assert_eq!(first.next, Some((last.created_at, last.id.clone())), "{name}: continues after the last row");

        // Filters, alone and together; never another organization's entries.
        let by_action = AuditFilter { action: Some("api_key.created".into()), ..Default::default() };
        let rows = all(&store, &org_a, &by_action, 2).await;
        assert_eq!(rows, [recorded[0].clone()], "{name}: org B's api_key.created is not org A's");
        let by_type = AuditFilter { target_type: Some("api_key".into()), ..Default::default() };
        assert_eq!(actions(&all(&store, &org_a, &by_type, 1).await), ["api_key.revoked", "api_key.created"], "{name}");
        let by_alice = AuditFilter { actor_user_id: Some(alice.clone()), ..Default::default() };
        assert_eq!(
            actions(&all(&store, &org_a, &by_alice, 2).await),
            ["rule.created", "member.role_changed", "api_key.created"],
            "{name}"
        );
        let by_bob = AuditFilter { actor_user_id: Some(bob.clone()), ..Default::default() };
        assert!(all(&store, &org_a, &by_bob, 10).await.is_empty(), "{name}: bob acted only in org B");
        let together = AuditFilter {
            action: Some("api_key.created".into()),
            actor_user_id: Some(alice.clone()),
            target_type: Some("api_key".into()),
        };
        assert_eq!(all(&store, &org_a, &together, 10).await, [recorded[0].clone()], "{name}");
        let none =
            AuditFilter { action: Some("api_key.created".into()), target_type: Some("member".into()), ..by_alice };
        assert!(all(&store, &org_a, &none, 10).await.is_empty(), "{name}: every filter must match");

        let b = all(&store, &org_b, &AuditFilter::default(), 10).await;
        assert_eq!(actions(&b), ["member.added", "api_key.created"], "{name}");
        assert!(b.iter().all(|r| r.org_id == org_b), "{name}");
        assert!(all(&store, &OrgId::new(), &AuditFilter::default(), 10).await.is_empty(), "{name}: unknown org");

        // The time window of a page applies too.
        let mut window = PageQuery::first(10);
        window.from = Some(recorded[4].created_at + 1);
        let later = store.list_audit(&org_a, &AuditFilter::default(), &window).await.expect("window");
        assert!(later.items.is_empty() && later.next.is_none(), "{name}");
    }
}

#[tokio::test]
async fn optional_fields_and_detail_round_trip() {
    for (name, store) in stores().await {
        let (alice, org) = user(&store, "alice@example.com").await;
        let detail = serde_json::json!({"from": "MEMBER", "to": "ADMIN", "user": "bob@example.com"});
        let full = NewAuditEntry {
            actor: "key tlpro_abcd…".into(),
            actor_key_prefix: Some("tlpro_abcd".into()),
            summary: "changed bob@example.com's role from MEMBER to ADMIN".into(),
            client_ip: Some("2001:db8::1".into()),
            detail: Some(detail.to_string()),
            ..entry(&org, Some(&alice), "member.role_changed", "member", "m1")
        };
        let row = store.record_audit(full.clone()).await.expect("recorded");
        let bare = store.record_audit(entry(&org, None, "plan.changed", "plan", org.as_str())).await.expect("bare");

        let listed = all(&store, &org, &AuditFilter::default(), 10).await;
        assert_eq!(listed, [bare.clone(), row.clone()], "{name}");
        let stored = &listed[1];
        assert_eq!(stored.actor_user_id.as_ref(), Some(&alice), "{name}");
        assert_eq!(stored.actor, "key tlpro_abcd…", "{name}");
        assert_eq!(stored.actor_key_prefix.as_deref(), Some("tlpro_abcd"), "{name}");
        assert_eq!(stored.summary, full.summary, "{name}");
        assert_eq!(stored.client_ip.as_deref(), Some("2001:db8::1"), "{name}");
        assert_eq!(stored.detail_json().expect("decodes"), Some(detail), "{name}");
        let bare = &listed[0];
        assert_eq!(bare.actor, "tlink (command line)", "{name}");
        assert!(bare.actor_user_id.is_none() && bare.actor_key_prefix.is_none() && bare.client_ip.is_none(), "{name}");
        assert_eq!(bare.detail_json().expect("no detail"), None, "{name}");
    }
}

#[tokio::test]
async fn batches_are_recorded_all_or_none() {
    for (name, store) in stores().await {
        let (alice, org_a) = user(&store, "alice@example.com").await;
        let (bob, org_b) = user(&store, "bob@example.com").await;

        store.record_audit_many(Vec::new()).await.expect("nothing to record");
        store
            .record_audit_many(vec![
                entry(&org_a, Some(&alice), "asset.created", "asset", "a1"),
                entry(&org_a, Some(&alice), "asset.updated", "asset", "a1"),
                entry(&org_b, Some(&bob), "asset.created", "asset", "b1"),
                entry(&org_a, Some(&alice), "asset.deleted", "asset", "a1"),
            ])
            .await
            .expect("batch");
        let a = all(&store, &org_a, &AuditFilter::default(), 2).await;
        assert_eq!(actions(&a), ["asset.deleted", "asset.updated", "asset.created"], "{name}: kept in order");
        assert_eq!(all(&store, &org_b, &AuditFilter::default(), 2).await.len(), 1, "{name}");
        assert_eq!(count(&store).await, 4, "{name}");

        // One entry of an organization that does not exist: the foreign key refuses it, and its batch with it.
        let err = store
            .record_audit_many(vec![
                entry(&org_a, Some(&alice), "rule.created", "rule", "r1"),
                entry(&OrgId::new(), None, "rule.created", "rule", "r2"),
                entry(&org_b, Some(&bob), "rule.created", "rule", "r3"),
            ])
            .await
            .expect_err("unknown organization");
        assert!(matches!(err, DbError::ForeignKey), "{name}: {err:?}");
        assert_eq!(count(&store).await, 4, "{name}: nothing of the batch was written");
        let err = store.record_audit(entry(&OrgId::new(), None, "x.y", "x", "1")).await.expect_err("unknown org");
        assert!(matches!(err, DbError::ForeignKey), "{name}: {err:?}");
        assert_eq!(count(&store).await, 4, "{name}");
    }
}

#[tokio::test]
async fn an_entry_commits_with_the_transaction_that_carries_it_and_goes_with_its_org() {
    for (name, store) in stores().await {
        let (alice, org_a) = user(&store, "alice@example.com").await;
        let (_, org_b) = user(&store, "bob@example.com").await;
        let change = tlink_store::Stmt::new("UPDATE orgs SET name = $2 WHERE id = $1", params![org_a.as_str(), "A"]);
        let e = entry(&org_a, Some(&alice), "org.renamed", "org", org_a.as_str());
        store.db().transaction(vec![change, tlink_store::audit_statement(&e)]).await.expect("committed");
        let listed = all(&store, &org_a, &AuditFilter::default(), 10).await;
        assert_eq!(actions(&listed), ["org.renamed"], "{name}");
        assert_eq!(listed[0].summary, e.summary, "{name}");
        assert_eq!(listed[0].target_id, org_a.as_str(), "{name}");

        // A transaction that fails takes its entry with it.
        const DUPLICATE: &str = "INSERT INTO orgs (id, name, plan, created_at) VALUES ($1, 'B', 'FREE', 1)";
        let failing = tlink_store::Stmt::new(DUPLICATE, params![org_b.as_str()]);
        let e = entry(&org_a, Some(&alice), "org.created", "org", org_b.as_str());
        let err = store.db().transaction(vec![tlink_store::audit_statement(&e), failing]).await.expect_err("duplicate");
        assert!(matches!(err, DbError::Unique(_)), "{name}: {err:?}");
        assert_eq!(count(&store).await, 1, "{name}: the entry was rolled back with the change");

        // The only way an entry goes: with its organization.
        store.record_audit(entry(&org_b, None, "plan.changed", "plan", org_b.as_str())).await.expect("b");
        store.db().execute("DELETE FROM orgs WHERE id = $1", &params![org_a.as_str()]).await.expect("org deleted");
        assert!(all(&store, &org_a, &AuditFilter::default(), 10).await.is_empty(), "{name}");
        assert_eq!(actions(&all(&store, &org_b, &AuditFilter::default(), 10).await), ["plan.changed"], "{name}");
    }
}
