//! Moving data (`tlink_store::transfer`): a store filled through its own API, with rows in every table, copied
//! into another database (SQLite always; PostgreSQL when `TLINK_TEST_DATABASE_URL` is set, and back) and
//! compared row for row; a second copy into the now full target refused without writing; a backup taken
//! while writes go on, holding every write acknowledged before it began; a restore that brings every row back
//! and refuses files that are not tlink backups.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tlink_domain::{AlertId, AssetType, DeliveryId, OrgId, Role, ToolKey, UserId};
use tlink_store::transfer::{self, CopyProgress, Side, TransferError, TransferReport};
use tlink_store::{
    AdvisoryImport, AgentReport, AlertFire, AlertSubject, AttemptRecord, Db, DeliveryUpdate, Finding, Finish,
    ImportOutcome, Inventory, JobKind, JobOutcome, NewApiKey, NewAsset, NewAuditEntry, NewDelivery, NewEnrollment,
    NewJob, NewReport, Quota, ReportOrigin, ReportUpdate, RuleFields, StatusChange, Store, Transition, Value,
    now_millis,
};

use crate::{asset, user};

/// Assets added in bulk, so that `assets` spans several batches of the copy.
const BULK_ASSETS: usize = 2345;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tlink-transfer-{tag}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A migrated, empty SQLite store in `dir`.
async fn sqlite_store(dir: &Path, name: &str) -> Store {
    let store = Store::connect(&sqlite_url(&dir.join(name)), 2).await.expect("sqlite opens");
    store.migrate().await.expect("sqlite migrates");
    store
}

/// A database in a fresh PostgreSQL schema, not migrated; `None` when `TLINK_TEST_DATABASE_URL` is unset
/// (a failure under `REQUIRE_TEST_PEERS`).
async fn postgres() -> Option<Db> {
    let Ok(url) = std::env::var("TLINK_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("REQUIRE_TEST_PEERS").is_none(),
            "TLINK_TEST_DATABASE_URL must name a PostgreSQL database"
        );
        return None;
    };
    let schema = format!("s_{}", uuid::Uuid::now_v7().simple());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("postgres reachable");
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
    let mut cfg: tokio_postgres::Config = url.parse().expect("postgres url");
    cfg.options(format!("-c search_path={schema}"));
    Some(Db::connect_pg(cfg, 4).expect("pool"))
}

/// Every table's rows (`schema_migrations` aside), by table: columns in name order, booleans as the integers
/// SQLite stores, rows sorted, so that both engines' dumps compare equal when they hold the same data.
async fn dump(db: &Db) -> BTreeMap<String, Vec<Vec<Value>>> {
    let mut out = BTreeMap::new();
    for t in transfer::tables(db).await.expect("the tables") {
        let mut columns: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        columns.sort_unstable();
        let list: Vec<String> = columns.iter().map(|c| tlink_store::db::quote_ident(c)).collect();
        let sql = format!("SELECT {} FROM {}", list.join(", "), tlink_store::db::quote_ident(&t.name));
        let mut rows: Vec<Vec<Value>> = db
            .query_dynamic(&sql, &[])
            .await
            .expect("a table reads")
            .into_iter()
            .map(|r| {
                r.into_values()
                    .into_iter()
                    .map(|v| match v {
                        Value::Bool(b) => Value::Int(i64::from(b)),
                        other => other,
                    })
                    .collect()
            })
            .collect();
        rows.sort_by_cached_key(|r| format!("{r:?}"));
        out.insert(t.name, rows);
    }
    out
}

/// What [`fill`] made, to read back through the store's API.
struct Filled {
    alice: UserId,
    org: OrgId,
    alert: AlertId,
}

/// Writes rows into every table, through the store's own methods only.
async fn fill(store: &Store) -> Filled {
    // users, orgs, memberships (one of them with alert e-mail off), an operator.
    let (alice, org) = user(store, "alice@example.com").await;
    let (bob, _) = user(store, "bob@example.com").await;
    store.add_member(&org, &bob, Role::Viewer).await.expect("member");
    assert!(store.set_operator(&bob, true).await.expect("operator"));
    assert!(store.set_member_notify(&org, &bob, false).await.expect("notify"));

    // refresh_tokens, api_keys.
    let far = now_millis() + 60_000;
    store.start_refresh_family(&alice, "refresh-1", far).await.expect("login");
    store.rotate_refresh("refresh-1", "refresh-2", far).await.expect("rotate");
    let key = NewApiKey {
        name: "ci — «quoted» 'key'".into(),
        prefix: "tlpro_copy01".into(),
        key_hash: "h".repeat(64),
        sealed_key: Some("sealed-key".into()),
    };
    let key = store.create_api_key(&alice, key).await.expect("key").expect("under the cap");
    store.touch_api_key(&key.id, now_millis()).await.expect("touch");

    // assets: one monitored with a label full of quotes and non-ASCII text, many in bulk.
    let mut monitored = asset(AssetType::Domain, "example.com");
    monitored.label = Some("O'Brien \"main\" — ünïcode ✓ \\ ; --".into());
    monitored.is_monitored = true;
    monitored.monitor_interval_minutes = Some(60);
    monitored.next_scan_at = Some(now_millis() + 3_600_000);
    let site = store.create_asset(&org, monitored).await.expect("asset");
    let bulk: Vec<NewAsset> = (0..BULK_ASSETS)
        .map(|i| asset(AssetType::Ip, &format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256)))
        .collect();
    assert_eq!(store.create_assets_bulk(&org, bulk).await.expect("bulk"), BULK_ASSETS as u64);

    // alert_rules (booleans both ways).
    let rule = store
        .create_rule(
            &org,
            Some(&alice),
            RuleFields {
                name: "Certificate expiring".into(),
                tool: "ssl".into(),
                field: "certificate.daysLeft".into(),
                operator: "lt".into(),
                value: Some("14".into()),
                severity: "HIGH".into(),
                enabled: true,
                notify_email: false,
                notify_webhook: true,
                webhook_url: Some("https://hooks.example.com/tlink".into()),
                webhook_secret: Some("sealed-secret".into()),
                webhook_disabled_at: None,
                webhook_disabled_reason: None,
                asset_ids: None,
                asset_types: Some(r#"["DOMAIN"]"#.into()),
                email_recipients: None,
            },
        )
        .await
        .expect("rule");

    // reports, jobs, tool_usage; then alerts, deliveries, delivery_attempts written by the jobs that own them.
    let quota = Quota { month: tlink_domain::usage_month(now_millis()).0, limit: None };
    let new_report = |asset_id| NewReport {
        tool: ToolKey::Dns,
        target: "example.com".into(),
        target_type: AssetType::Domain,
        asset_id,
        options: None,
        origin: ReportOrigin::Manual,
        requested_by: Some(alice.clone()),
        payload: r#"{"tool":"dns","target":"example.com"}"#.into(),
        max_attempts: 2,
    };
    let report =
        store.create_report(&org, new_report(Some(site.id.clone())), &quota).await.expect("report").expect("created");
    assert_eq!(store.claim_jobs("w1", 10, 60_000).await.expect("claim").len(), 1);
    let (alert, delivery) = (AlertId::new(), DeliveryId::new());
    let fire = AlertFire {
        alert_id: alert.clone(),
        org_id: org.clone(),
        rule_id: rule.id.clone(),
        subject: AlertSubject::Asset(site.id.clone()),
        severity: "HIGH".into(),
        message: "the certificate expires in 3 days".into(),
        actual: "3".into(),
        rule: r#"{"field":"certificate.daysLeft"}"#.into(),
        deliveries: vec![NewDelivery {
            id: delivery.clone(),
            channel: "WEBHOOK".into(),
            target: "https://hooks.example.com/tlink".into(),
            body: r#"{"alert":"…"}"#.into(),
            status: "PENDING".into(),
            last_error: None,
            job: Some(NewJob {
                id: delivery.to_string(),
                kind: JobKind::Delivery,
                payload: "{}".into(),
                priority: 0,
                run_at: 0,
                max_attempts: 3,
            }),
        }],
    };
    let result = r#"{"a":["192.0.2.1"],"note":"ünïcode ✓"}"#;
    let completed = ReportUpdate::Completed { result: result.into() };
    let mut finish = Finish::new(report.id.to_string(), JobOutcome::Done, completed);
    finish.effects.alerts.push(fire);
    assert_eq!(store.finish_jobs("w1", &[finish]).await.expect("finish").applied, 1);
    assert_eq!(store.claim_jobs("w2", 10, 60_000).await.expect("claim the delivery").len(), 1);
    let attempt = DeliveryUpdate {
        delivery_id: delivery.clone(),
        attempt: AttemptRecord {
            id: "attempt-1".into(),
            trigger: "SCHEDULED".into(),
            started_at: now_millis(),
            duration_ms: 42,
            status_code: Some(200),
            response_excerpt: Some("ok".into()),
            error: None,
            outcome: "DELIVERED".into(),
        },
        status: "DELIVERED".into(),
        next_attempt_at: None,
        last_error: None,
        disable_webhook: None,
    };
    let mut finish = Finish::new(delivery.to_string(), JobOutcome::Done, ReportUpdate::None);
    finish.effects.delivery = Some(attempt);
    assert_eq!(store.finish_jobs("w2", &[finish]).await.expect("finish the delivery").applied, 1);
    // A run still queued, so that `jobs` has a row.
    store.create_report(&org, new_report(None), &quota).await.expect("report").expect("created");

    // alert_events.
    let change = StatusChange { by: Some(&alice), note: Some("looking into it"), dismissal: None };
    let moved = store.transition_alert(&org, &alert, &["OPEN"], "ACKNOWLEDGED", &change).await.expect("transition");
    assert!(matches!(moved, Transition::Changed(_)), "{moved:?}");

    // agent_enrollments, agents.
    let enrollment = store
        .create_enrollment(
            &org,
            NewEnrollment { name: "fleet".into(), prefix: "tlagent_copy".into(), token_hash: "t".repeat(64) },
        )
        .await
        .expect("enrollment");
    let host = AgentReport {
        instance_id: "i-0001".into(),
        hostname: "web-1".into(),
        os_version: Some("Debian GNU/Linux 12 (bookworm)".into()),
        kernel: Some("6.1.0-18-amd64".into()),
        version: Some("1.0.0".into()),
        distro: Some("Debian:12".into()),
        tags: r#"[{"key":"env","value":"prod"}]"#.into(),
        ip_addresses: r#"{"private":["10.0.0.5"],"link_local":[],"public":[]}"#.into(),
        digest: Some("digest-1".into()),
        inventory: Some(Inventory {
            packages: r#"[{"name":"libssl3","version":"3.0.11-1","source":"openssl"}]"#.into(),
            ports: "[]".into(),
        }),
    };
    let (agent, _) = store.record_report(&org, &enrollment.id, &host).await.expect("agent");

    // vuln_advisories (a REAL and a boolean), vuln_affected, agent_vulns, an agent's alert, vuln_suppressions.
    let advisory = AdvisoryImport {
        id: "DSA-0001-1".into(),
        modified: "2024-01-01T00:00:00Z".into(),
        published: Some("2023-12-31T00:00:00Z".into()),
        summary: Some("openssl: a flaw".into()),
        cves: r#"["CVE-2024-0001"]"#.into(),
        severity: "high".into(),
        score: Some(7.5),
        vector_type: Some("NETWORK".into()),
        fix_available: true,
        affected: vec![("Debian:12".into(), "openssl".into(), r#"{"fixed":"3.0.13-1"}"#.into())],
    };
    assert_eq!(store.import_advisory(&advisory, false).await.expect("import"), ImportOutcome::Inserted);
    let finding = Finding {
        cve: "CVE-2024-0001".into(),
        package: "openssl".into(),
        binary_name: "libssl3".into(),
        installed_version: "3.0.11-1".into(),
        reported_package: "openssl 3.0.11".into(),
        fixed_version: Some("3.0.13-1".into()),
        advisories: r#"["DSA-0001-1"]"#.into(),
        severity: "high".into(),
        severity_level: 3,
        vector_type: Some("NETWORK".into()),
    };
    let agent_fire = AlertFire {
        alert_id: AlertId::new(),
        org_id: org.clone(),
        rule_id: rule.id.clone(),
        subject: AlertSubject::Agent {
            agent_id: agent.id.clone(),
            subject: "CVE-2024-0001 openssl".into(),
            event: "vulnerability:CVE-2024-0001".into(),
        },
        severity: "HIGH".into(),
        message: "openssl is vulnerable".into(),
        actual: r#""3.0.11-1""#.into(),
        rule: "{}".into(),
        deliveries: Vec::new(),
    };
    store.replace_findings(&org, &agent.id, &[(finding, now_millis())], &[agent_fire]).await.expect("findings");
    store.suppress_cve(&org, "CVE-2024-0002", None, "accepted risk", Some(&alice)).await.expect("suppression");

    // audit_log.
    store
        .record_audit(NewAuditEntry {
            org_id: org.clone(),
            actor_user_id: Some(alice.clone()),
            actor: "alice@example.com".into(),
            actor_key_prefix: Some("tlpro_copy01".into()),
            action: "asset.created".into(),
            target_type: "asset".into(),
            target_id: site.id.to_string(),
            summary: "created example.com".into(),
            client_ip: Some("192.0.2.7".into()),
            detail: Some(r#"{"value":"example.com"}"#.into()),
            source: "api".into(),
        })
        .await
        .expect("audit");
    Filled { alice, org, alert }
}

/// The copy holds the source's rows, table for table, and its report and progress say so.
async fn assert_copied(
    source: &BTreeMap<String, Vec<Vec<Value>>>,
    target: &Db,
    report: &TransferReport,
    progress: &BTreeMap<String, (u64, u64)>,
) {
    for (table, rows) in source {
        assert!(!rows.is_empty(), "the fill leaves no row in `{table}`: give it one, so the copy is tested on it");
    }
    let copied = dump(target).await;
    assert_eq!(copied.keys().collect::<Vec<_>>(), source.keys().collect::<Vec<_>>(), "the same tables");
    for (table, rows) in source {
        assert_eq!(copied[table].len(), rows.len(), "`{table}`: row count");
        assert_eq!(&copied[table], rows, "`{table}`: row for row");
    }
    assert_eq!(report.tables.len(), source.len(), "{report:?}");
    for t in &report.tables {
        let n = source[&t.table].len() as u64;
        assert_eq!((t.source, t.target), (n, n), "`{}` in the report", t.table);
        assert_eq!(progress.get(&t.table), Some(&(n, n)), "`{}`: the last progress says all rows", t.table);
    }
    assert_eq!(report.rows(), source.values().map(|r| r.len() as u64).sum::<u64>());
}

/// Copies `from` into `to`, recording each table's last progress.
async fn copy(from: &Db, to: &Db) -> (Result<TransferReport, TransferError>, BTreeMap<String, (u64, u64)>) {
    let mut progress = BTreeMap::new();
    let result = transfer::copy(from, to, |p: &CopyProgress<'_>| {
        assert!(p.done <= p.total && p.index >= 1 && p.index <= p.tables, "{p:?}");
        progress.insert(p.table.to_string(), (p.done, p.total));
    })
    .await;
    (result, progress)
}

/// The second copy into a target that now holds rows is refused and changes nothing there.
async fn assert_second_copy_refused(from: &Db, to: &Db) {
    let before = dump(to).await;
    let (result, progress) = copy(from, to).await;
    match result {
        Err(TransferError::NotEmpty(table)) => assert!(!before[&table].is_empty(), "{table}"),
        other => panic!("a copy into a full target must be refused, got {other:?}"),
    }
    assert!(progress.is_empty(), "nothing was copied: {progress:?}");
    assert_eq!(dump(to).await, before, "the refused copy wrote nothing");
}

#[tokio::test]
async fn a_copy_between_sqlite_databases_is_row_for_row_and_a_second_one_is_refused() {
    let dir = temp_dir("sqlite");
    let source = sqlite_store(&dir, "source.db").await;
    fill(&source).await;
    let expected = dump(source.db()).await;
    // A new file: the copy migrates it.
    let target = Db::connect(&sqlite_url(&dir.join("target.db")), 2).await.expect("target opens");
    let (result, progress) = copy(source.db(), &target).await;
    let report = result.expect("copied");
    assert!(!report.migrations_applied.is_empty(), "the target was migrated by the copy");
    assert_copied(&expected, &target, &report, &progress).await;
    assert_second_copy_refused(source.db(), &target).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_copy_from_sqlite_into_postgres_and_back_is_row_for_row() {
    let Some(pg) = postgres().await else { return };
    let dir = temp_dir("postgres");
    let source = sqlite_store(&dir, "source.db").await;
    let filled = fill(&source).await;
    let expected = dump(source.db()).await;

    let (result, progress) = copy(source.db(), &pg).await;
    let report = result.expect("copied into PostgreSQL");
    assert_copied(&expected, &pg, &report, &progress).await;
    assert_second_copy_refused(source.db(), &pg).await;

    // The copy works through the store on PostgreSQL: booleans, keys and alerts read back as they were.
    let store = Store::from_db(pg.clone());
    let alice = store.user_by_email("alice@example.com").await.expect("read").expect("alice was copied");
    assert_eq!(alice.id, filled.alice);
    let bob = store.user_by_email("bob@example.com").await.expect("read").expect("bob was copied");
    assert!(bob.is_operator && !alice.is_operator);
    assert_eq!(store.member_notify(&filled.org, &bob.id).await.expect("notify"), Some(false));
    let keys = store.api_key_candidates("tlpro_copy01", Some(&filled.org)).await.expect("keys");
    assert_eq!(keys.len(), 1);
    let alert = store.get_alert(&filled.org, &filled.alert).await.expect("alert").expect("copied");
    assert_eq!(alert.status, "ACKNOWLEDGED");
    let rules = store.enabled_rules(&filled.org).await.expect("rules");
    assert!(rules.len() == 1 && rules[0].notify_webhook && !rules[0].notify_email, "{rules:?}");

    // And back, from PostgreSQL into a new SQLite file.
    let back = Db::connect(&sqlite_url(&dir.join("back.db")), 2).await.expect("opens");
    let (result, progress) = copy(&pg, &back).await;
    let report = result.expect("copied back into SQLite");
    assert_copied(&expected, &back, &report, &progress).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_copy_refuses_databases_that_are_not_both_tlink_schemas_alike() {
    let dir = temp_dir("schemas");
    let source = sqlite_store(&dir, "source.db").await;
    user(&source, "alice@example.com").await;

    // A target with a table the source does not have: refused, before any row is written.
    let odd = sqlite_store(&dir, "odd.db").await;
    odd.db().query_dynamic("CREATE TABLE extra (x INTEGER)", &[]).await.expect("extra table");
    match copy(source.db(), odd.db()).await.0 {
        Err(TransferError::SchemaMismatch(why)) => {
            assert!(why.iter().any(|w| w == "table `extra` is only in the target"), "{why:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(transfer::first_nonempty_table(odd.db()).await.expect("reads"), None, "nothing was written");

    // A source that holds no tlink schema at all.
    let blank = Db::connect(&sqlite_url(&dir.join("blank.db")), 1).await.expect("opens");
    let target = Db::connect(&sqlite_url(&dir.join("target.db")), 1).await.expect("opens");
    match copy(&blank, &target).await.0 {
        Err(TransferError::NotTlink(Side::Source)) => {}
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writes_go_on_holds_every_write_acknowledged_before_it() {
    let dir = temp_dir("backup");
    let store = sqlite_store(&dir, "live.db").await;
    let (_, org) = user(&store, "alice@example.com").await;
    // Enough rows that the copy takes a while, with writes going on.
    let bulk: Vec<NewAsset> = (0..20_000).map(|i| asset(AssetType::Domain, &format!("d{i}.bulk.example"))).collect();
    store.create_assets_bulk(&org, bulk).await.expect("bulk");

    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, org, acked, stop) = (store.clone(), org.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let value = format!("w{i}.live.example");
                store.create_asset(&org, asset(AssetType::Domain, &value)).await.expect("a write");
                acked.lock().expect("lock").push(value);
                i += 1;
            }
        })
    };
    while acked.lock().expect("lock").len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before: Vec<String> = acked.lock().expect("lock").clone();
    let path = dir.join("backup.db");
    let report = transfer::backup(store.db(), &path).await.expect("backed up");
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("the writer ends");
    let all: HashSet<String> = acked.lock().expect("lock").iter().cloned().collect();

    // A sound tlink database file, readable by its owner only.
    let info = transfer::inspect_backup(&path).await.expect("a sound backup");
    assert!(!info.versions.is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("the file").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is private: {mode:o}");
    }
    let backup = Store::connect(&sqlite_url(&path), 1).await.expect("the backup opens");
    let rows = backup.db().query("SELECT value FROM assets", &[]).await.expect("assets");
    let values: HashSet<String> = rows.iter().map(|r| r.text(0).expect("text")).collect();
    for v in &before {
        assert!(values.contains(v), "{v} was acknowledged before the backup began but is not in it");
    }
    // Nothing else: the bulk, and writes that were acknowledged (none half-written).
    let live: Vec<&String> = values.iter().filter(|v| v.ends_with(".live.example")).collect();
    assert!(live.iter().all(|v| all.contains(*v)));
    assert_eq!(values.len(), 20_000 + live.len());
    let assets = report.tables.iter().find(|(t, _)| t == "assets").map(|(_, n)| *n);
    assert_eq!(assets, Some(values.len() as u64), "the report counts the backup's rows");
    assert!(report.bytes > 0 && report.rows() > 20_000);

    // A backup never replaces a file, and leaves no partial file behind.
    match transfer::backup(store.db(), &path).await {
        Err(TransferError::Exists(p)) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".partial-")), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_restore_brings_back_every_row_and_replaces_data_only_when_forced() {
    let dir = temp_dir("restore");
    let source = sqlite_store(&dir, "source.db").await;
    let filled = fill(&source).await;
    let expected = dump(source.db()).await;
    let path = dir.join("backup.db");
    transfer::backup(source.db(), &path).await.expect("backed up");

    // Into a migrated, empty database.
    let target = sqlite_store(&dir, "target.db").await;
    let report = transfer::restore(target.db(), &path, false).await.expect("restored");
    assert!(report.migrations_applied.is_empty(), "the backup is at this build's schema");
    assert_eq!(dump(target.db()).await, expected);
    assert!(report.mismatches().is_empty() && report.tables.len() == expected.len(), "{report:?}");
    let alice = target.user_by_email("alice@example.com").await.expect("read").expect("restored");
    assert_eq!(alice.id, filled.alice);

    // The database now holds data: a restore is refused unless forced, and forced it replaces everything.
    match transfer::restore(target.db(), &path, false).await {
        Err(TransferError::NotEmpty(_)) => {}
        other => panic!("{other:?}"),
    }
    user(&target, "carol@example.com").await;
    transfer::restore(target.db(), &path, true).await.expect("forced");
    assert!(target.user_by_email("carol@example.com").await.expect("read").is_none(), "replaced");
    assert_eq!(dump(target.db()).await, expected);

    // Into a new file, which holds no table at all.
    let fresh = Db::connect(&sqlite_url(&dir.join("fresh.db")), 1).await.expect("opens");
    transfer::restore(&fresh, &path, false).await.expect("restored into a new file");
    assert_eq!(dump(&fresh).await, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn files_that_are_not_tlink_backups_are_refused_with_the_reason() {
    let dir = temp_dir("bad");
    let target = sqlite_store(&dir, "target.db").await;
    let refused = |result: Result<TransferReport, TransferError>| match result {
        Err(e @ TransferError::BadFile { .. }) => e.to_string(),
        other => panic!("{other:?}"),
    };

    let why = refused(transfer::restore(target.db(), &dir.join("missing.db"), false).await);
    assert!(why.ends_with("no such file"), "{why}");

    let junk = dir.join("junk.db");
    std::fs::write(&junk, "this is not a database\n".repeat(200)).expect("junk");
    let why = refused(transfer::restore(target.db(), &junk, false).await);
    assert!(why.contains("not a readable SQLite database"), "{why}");

    let other = dir.join("other.db");
    rusqlite::Connection::open(&other)
        .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);"))
        .expect("another SQLite database");
    let why = refused(transfer::restore(target.db(), &other, false).await);
    assert!(why.contains("not a tlink database"), "{why}");

    let source = sqlite_store(&dir, "source.db").await;
    let newer = dir.join("newer.db");
    transfer::backup(source.db(), &newer).await.expect("backed up");
    rusqlite::Connection::open(&newer)
        .and_then(|c| c.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)", []))
        .expect("a migration from the future");
    let why = refused(transfer::restore(target.db(), &newer, false).await);
    assert!(why.contains("newer tlink") && why.contains("9999"), "{why}");

    // None of them touched the database.
    assert_eq!(transfer::first_nonempty_table(target.db()).await.expect("reads"), None);
    let _ = std::fs::remove_dir_all(&dir);
}
