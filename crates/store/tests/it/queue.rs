//! The job queue and tool reports: claims, leases, retries, crash recovery, no double claims.

use std::collections::HashSet;

use tlink_domain::AssetType;
use tlink_store::{
    Finish, JobKind, JobOutcome, NewJob, NewReport, Quota, Refused, ReportStatus, ReportUpdate, Store, params,
};

use crate::{asset, stores, user};

fn noop(n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| NewJob {
            id: format!("job-{i:05}"),
            kind: JobKind::Noop,
            payload: "{}".into(),
            priority: 0,
            run_at: 0,
            max_attempts: 3,
        })
        .collect()
}

fn new_report(asset_id: Option<tlink_domain::AssetId>) -> NewReport {
    NewReport {
        tool: tlink_domain::ToolKey::Dns,
        target: "example.com".into(),
        target_type: tlink_domain::AssetType::Domain,
        asset_id,
        options: None,
        origin: tlink_store::ReportOrigin::Manual,
        requested_by: None,
        payload: r#"{"tool":"dns","target":"example.com"}"#.into(),
        max_attempts: 2,
    }
}

fn unlimited() -> Quota {
    Quota { month: "2026-11".into(), limit: None }
}

async fn done(store: &Store, worker: &str, id: &str) -> u64 {
    let f = Finish { id: id.into(), job: JobOutcome::Done, report: ReportUpdate::None, effects: Default::default() };
    store.finish_jobs(worker, &[f]).await.expect("finish").applied
}

#[tokio::test]
async fn report_and_job_are_created_together_and_run_through_their_states() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, "a@example.com").await;
        let (_, other_org) = user(&store, "b@example.com").await;
        let a = store.create_asset(&org, asset(AssetType::Domain, "example.com")).await.expect("asset");

        // Another org's asset: nothing is written, neither report nor job.
        let refused =
            store.create_report(&other_org, new_report(Some(a.id.clone())), &unlimited()).await.expect("create");
        assert_eq!(refused.err(), Some(Refused::NoAsset), "{name}");
        assert_eq!(store.queue_counts().await.expect("counts").queued, 0, "{name}");

        let r = store
            .create_report(&org, new_report(Some(a.id.clone())), &unlimited())
            .await
            .expect("create")
            .expect("created");
        assert_eq!(r.status, ReportStatus::Queued);
        assert!(store.get_report(&other_org, &r.id).await.expect("get").is_none(), "{name}: tenant scoped");

        let jobs = store.claim_jobs("w1", 10, 60_000).await.expect("claim");
        assert_eq!(jobs.len(), 1, "{name}");
        assert_eq!((jobs[0].id.as_str(), jobs[0].kind.as_str(), jobs[0].attempts), (r.id.as_str(), "tool", 1));
        assert_eq!(jobs[0].kind(), Some(JobKind::Tool), "{name}");
        let running = store.get_report(&org, &r.id).await.expect("get").expect("exists");
        assert_eq!((running.status, running.attempts), (ReportStatus::Running, 1), "{name}");
        assert!(running.started_at.is_some());

        let f = Finish {
            id: r.id.to_string(),
            job: JobOutcome::Done,
            report: ReportUpdate::Completed { result: r#"{"a":["192.0.2.1"]}"#.into() },
            effects: Default::default(),
        };
        let recorded = store.finish_jobs("w1", &[f]).await.expect("finish");
        assert_eq!(recorded.applied, 1, "{name}");
        let finished = store.get_report(&org, &r.id).await.expect("get").expect("exists");
        assert_eq!(finished.status, ReportStatus::Completed, "{name}");
        assert_eq!(finished.result.as_deref(), Some(r#"{"a":["192.0.2.1"]}"#));
        assert!(finished.finished_at.is_some());
        // The report handed back is the one committed, every column of it.
        let [handed] = &recorded.reports[..] else { panic!("{name}: one finished report, got {:?}", recorded.reports) };
        assert_eq!(format!("{handed:?}"), format!("{finished:?}"), "{name}");
        assert!(store.get_job(r.id.as_str()).await.expect("job").is_none(), "{name}: a done job is deleted");
    }
}

#[tokio::test]
async fn retries_then_gives_up_with_the_error_recorded() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, "a@example.com").await;
        let r = store.create_report(&org, new_report(None), &unlimited()).await.expect("create").expect("created");
        let id = r.id.to_string();

        let jobs = store.claim_jobs("w1", 10, 60_000).await.expect("claim");
        assert_eq!(jobs.len(), 1);
        let retry = Finish {
            id: id.clone(),
            job: JobOutcome::Retry { run_at: tlink_store::now_millis() + 60_000, error: "resolver timed out".into() },
            report: ReportUpdate::Retrying { error: "resolver timed out".into() },
            effects: Default::default(),
        };
        let recorded = store.finish_jobs("w1", &[retry]).await.expect("finish");
        assert_eq!(recorded.applied, 1, "{name}");
        assert!(recorded.reports.is_empty(), "{name}: a retry does not finish the report");
        let queued = store.get_report(&org, &r.id).await.expect("get").expect("exists");
        assert_eq!((queued.status, queued.error.as_deref()), (ReportStatus::Queued, Some("resolver timed out")));
        // Not due yet: nothing to claim.
        assert!(store.claim_jobs("w1", 10, 60_000).await.expect("claim").is_empty(), "{name}: backoff respected");
        let job = store.get_job(&id).await.expect("job").expect("kept");
        assert_eq!((job.status.as_str(), job.attempts), ("queued", 1));
        assert_eq!(job.last_error.as_deref(), Some("resolver timed out"));

        // Make it due, claim the second (last) attempt and fail for good.
        store.db().execute("UPDATE jobs SET run_at = 0 WHERE id = $1", &[id.clone().into()]).await.expect("due");
        let jobs = store.claim_jobs("w2", 10, 60_000).await.expect("claim");
        assert_eq!((jobs.len(), jobs[0].attempts, jobs[0].max_attempts), (1, 2, 2), "{name}");
        let dead = Finish {
            id: id.clone(),
            job: JobOutcome::Dead { error: "gave up after 2 attempts: resolver timed out".into() },
            report: ReportUpdate::Failed { error: "gave up after 2 attempts: resolver timed out".into() },
            effects: Default::default(),
        };
        let recorded = store.finish_jobs("w2", &[dead]).await.expect("finish");
        let failed = store.get_report(&org, &r.id).await.expect("get").expect("exists");
        assert_eq!(failed.status, ReportStatus::Failed, "{name}");
        assert_eq!(recorded.reports.len(), 1, "{name}");
        assert_eq!(format!("{:?}", recorded.reports[0]), format!("{failed:?}"), "{name}");
        assert_eq!(failed.error.as_deref(), Some("gave up after 2 attempts: resolver timed out"));
        assert_eq!(store.get_job(&id).await.expect("job").expect("kept").status, "failed");
        assert_eq!(store.queue_counts().await.expect("counts").failed, 1);
    }
}

#[tokio::test]
async fn a_dead_workers_job_runs_again_and_the_late_worker_cannot_overwrite_it() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, "a@example.com").await;
        let r = store.create_report(&org, new_report(None), &unlimited()).await.expect("create").expect("created");
        let id = r.id.to_string();
        // w1 claims with a lease that is already over: it "died" mid-job.
        assert_eq!(store.claim_jobs("w1", 10, -1).await.expect("claim").len(), 1);
        assert!(store.claim_jobs("w2", 10, 60_000).await.expect("claim").is_empty(), "{name}: still leased");
        assert_eq!(store.requeue_expired().await.expect("reap"), 1, "{name}");
        let report = store.get_report(&org, &r.id).await.expect("get").expect("exists");
        assert_eq!(report.status, ReportStatus::Queued);

        let jobs = store.claim_jobs("w2", 10, 60_000).await.expect("claim");
        assert_eq!((jobs.len(), jobs[0].attempts), (1, 2), "{name}: the attempt of the dead worker counts");
        // The first worker wakes up and tries to finish: refused, nothing written.
        let late = Finish {
            id: id.clone(),
            job: JobOutcome::Done,
            report: ReportUpdate::Completed { result: r#"{"stale":true}"#.into() },
            effects: Default::default(),
        };
        let refused = store.finish_jobs("w1", &[late]).await.expect("finish");
        assert_eq!(refused.applied, 0, "{name}");
        assert!(refused.reports.is_empty(), "{name}: nothing recorded, nothing handed on");
        let report = store.get_report(&org, &r.id).await.expect("get").expect("exists");
        assert_eq!((report.status, report.result), (ReportStatus::Running, None), "{name}");
        assert_eq!(done(&store, "w2", &id).await, 1);
    }
}

#[tokio::test]
async fn leases_are_extended_and_released_on_shutdown() {
    for (name, store) in stores().await {
        store.enqueue(&noop(3)).await.expect("enqueue");
        assert_eq!(store.claim_jobs("w1", 2, 1_000).await.expect("claim").len(), 2);
        assert_eq!(store.extend_leases("w1", 60_000).await.expect("extend"), 2, "{name}");
        let job = store.get_job("job-00000").await.expect("job").expect("exists");
        assert!(job.lease_until.expect("leased") > tlink_store::now_millis() + 30_000, "{name}");
        assert_eq!(store.release_jobs("w1").await.expect("release"), 2, "{name}");
        let job = store.get_job("job-00000").await.expect("job").expect("exists");
        assert_eq!((job.status.as_str(), job.attempts, job.locked_by), ("queued", 0, None), "{name}");
        assert_eq!(store.queue_counts().await.expect("counts").queued, 3);
    }
}

#[tokio::test]
async fn concurrent_claimers_never_take_the_same_job() {
    for (name, store) in stores().await {
        const N: usize = 600;
        store.enqueue(&noop(N)).await.expect("enqueue");
        let mut tasks = Vec::new();
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let worker = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let jobs = store.claim_jobs(&worker, 7, 60_000).await.expect("claim");
                    if jobs.is_empty() {
                        break;
                    }
                    let finishes: Vec<Finish> = jobs
                        .iter()
                        .map(|j| Finish {
                            id: j.id.clone(),
                            job: JobOutcome::Done,
                            report: ReportUpdate::None,
                            effects: Default::default(),
                        })
                        .collect();
                    assert_eq!(store.finish_jobs(&worker, &finishes).await.expect("finish").applied, jobs.len() as u64);
                    mine.extend(jobs.into_iter().map(|j| j.id));
                }
                mine
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for t in tasks {
            for id in t.await.expect("task") {
                total += 1;
                assert!(seen.insert(id.clone()), "{name}: {id} claimed twice");
            }
        }
        assert_eq!((total, seen.len()), (N, N), "{name}");
        assert_eq!(store.queue_counts().await.expect("counts"), tlink_store::QueueCounts::default());
    }
}

#[tokio::test]
async fn concurrent_runs_never_exceed_the_monthly_quota_and_refusals_write_nothing() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, "q@example.com").await;
        let (_, other) = user(&store, "r@example.com").await;
        let quota = Quota { month: "2026-11".into(), limit: Some(7) };
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, org, quota) = (store.clone(), org.clone(), quota.clone());
                tokio::spawn(async move { store.create_report(&org, new_report(None), &quota).await.expect("create") })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => created += 1,
                Err(why) => assert_eq!(why, Refused::Quota, "{name}"),
            }
        }
        assert_eq!(created, 7, "{name}: exactly the quota");
        assert_eq!(store.usage(&org, "2026-11").await.expect("usage").runs, 7, "{name}");
        assert_eq!(store.queue_counts().await.expect("counts").queued, 7, "{name}: no job without its report");
        // Another month, and another organization, count separately.
        let next = Quota { month: "2026-12".into(), limit: Some(7) };
        assert!(store.create_report(&org, new_report(None), &next).await.expect("create").is_ok(), "{name}");
        assert!(store.create_report(&other, new_report(None), &quota).await.expect("create").is_ok(), "{name}");
        assert_eq!(store.usage(&other, "2026-11").await.expect("usage").runs, 1, "{name}");
    }
}

#[tokio::test]
async fn a_creation_that_fails_does_not_take_concurrent_ones_with_it() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, "g@example.com").await;
        // An organization that does not exist (deleted meanwhile): its usage row cannot be written.
        let gone = tlink_store::OrgId::from_trusted(uuid::Uuid::now_v7().to_string());
        let quota = Quota { month: "2026-11".into(), limit: Some(5) };
        // Started together: on PostgreSQL they share one transaction, which the missing org's run fails;
        // the others are then created one by one, within the quota.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, quota) = (store.clone(), quota.clone());
                let org = if i == 3 { gone.clone() } else { org.clone() };
                tokio::spawn(async move { store.create_report(&org, new_report(None), &quota).await })
            })
            .collect();
        let (mut created, mut failed) = (0, 0);
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.expect("task") {
                Err(e) => {
                    assert_eq!(i, 3, "{name}: only the missing org's run fails: {e}");
                    failed += 1;
                }
                Ok(Ok(_)) => created += 1,
                Ok(Err(why)) => assert_eq!(why, Refused::Quota, "{name}"),
            }
        }
        assert_eq!((created, failed), (5, 1), "{name}: exactly the quota, and the missing org's run failed");
        assert_eq!(store.usage(&org, "2026-11").await.expect("usage").runs, 5, "{name}");
        assert_eq!(store.queue_counts().await.expect("counts").queued, 5, "{name}: a job for each report");
    }
}

#[tokio::test]
async fn scheduled_scans_are_answered_in_their_order_whatever_their_orgs() {
    use tlink_store::{ScanOutcome, ScheduledScan};
    for (name, store) in stores().await {
        let (_, a) = user(&store, "s1@example.com").await;
        let (_, b) = user(&store, "s2@example.com").await;
        // The scans are written in org order: list the org that sorts last first.
        let (last, first) = if a.as_str() > b.as_str() { (a, b) } else { (b, a) };
        let mut scans = Vec::new();
        for (org, limit) in [(&last, Some(0)), (&first, None)] {
            let mut new = asset(AssetType::Domain, "example.com");
            new.is_monitored = true;
            new.next_scan_at = Some(1_000);
            let x = store.create_asset(org, new).await.expect("asset");
            scans.push(ScheduledScan {
                asset_id: x.id,
                org_id: org.clone(),
                expected: 1_000,
                next: 5_000,
                reports: vec![new_report(None)],
                quota: Quota { month: "2026-11".into(), limit },
            });
        }
        let outcomes = store.schedule_scans(&scans).await.expect("schedule");
        assert!(
            matches!(&outcomes[0], ScanOutcome::Skipped(ids) if ids.len() == 1),
            "{name}: no runs left: {outcomes:?}"
        );
        assert!(matches!(&outcomes[1], ScanOutcome::Queued(ids) if ids.len() == 1), "{name}: {outcomes:?}");
    }
}

/// A claim recognises the jobs it took by worker and lease end, which another claim or a heartbeat of the
/// same worker can share within a millisecond. Such a claim must not touch the reports of jobs it did not
/// take: re-stamping a running report's start, or moving a finished one back to RUNNING.
#[tokio::test]
async fn a_claim_leaves_the_reports_of_jobs_it_did_not_take_alone() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    for (name, store) in stores().await {
        let (_, org) = user(&store, "n@example.com").await;
        let stop = Arc::new(AtomicBool::new(false));
        // The same worker claiming nothing and beating, as fast as it can: its lease stamps meet the real
        // claims' in the same millisecond again and again.
        let noise = {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    store.extend_leases("w1", 60_000).await.expect("beat");
                    store.claim_jobs("w1", 0, 60_000).await.expect("empty claim");
                }
            })
        };
        let mut ids = Vec::new();
        for _ in 0..150 {
            let r = store.create_report(&org, new_report(None), &unlimited()).await.expect("create").expect("created");
            assert_eq!(store.claim_jobs("w1", 1, 60_000).await.expect("claim").len(), 1, "{name}");
            let f = Finish {
                id: r.id.to_string(),
                job: JobOutcome::Done,
                report: ReportUpdate::Completed { result: "{}".into() },
                effects: Default::default(),
            };
            assert_eq!(store.finish_jobs("w1", &[f]).await.expect("finish").applied, 1, "{name}");
            ids.push(r.id);
        }
        stop.store(true, Ordering::Relaxed);
        noise.await.expect("noise");
        for id in &ids {
            let r = store.get_report(&org, id).await.expect("get").expect("exists");
            assert_eq!(r.status, ReportStatus::Completed, "{name}: {r:?}");
            let (started, finished) = (r.started_at.expect("started"), r.finished_at.expect("finished"));
            assert!(started <= finished, "{name}: started after it finished: {r:?}");
        }
    }
}

/// A job of a kind this build does not know (queued by a newer version) is still claimed, with its stored
/// kind kept as it is, so the worker can fail it with a clear error instead of losing it.
#[tokio::test]
async fn a_job_of_an_unknown_kind_keeps_its_stored_kind() {
    for (name, store) in stores().await {
        store.enqueue(&noop(1)).await.expect("enqueue");
        store
            .db()
            .execute("UPDATE jobs SET kind = $1 WHERE id = $2", &params!["from-the-future", "job-00000"])
            .await
            .expect("relabel");
        let jobs = store.claim_jobs("w1", 10, 60_000).await.expect("claim");
        assert_eq!(jobs.len(), 1, "{name}");
        assert_eq!((jobs[0].kind.as_str(), jobs[0].kind()), ("from-the-future", None), "{name}");
        let stored = store.get_job("job-00000").await.expect("get").expect("exists");
        assert_eq!(stored.kind, "from-the-future", "{name}");
    }
}

/// A finishing tool job raises its alert and queues the alert's delivery in the same transaction; the
/// delivery job then records its attempt under its own lease, and a manual redelivery queues it again.
#[tokio::test]
async fn alerts_and_deliveries_are_written_by_the_jobs_that_own_them() {
    use tlink_domain::{AlertId, DeliveryId, RuleId};
    use tlink_store::{AlertFire, AlertSubject, AttemptRecord, DeliveryUpdate, NewDelivery, PageQuery, Redeliver};

    for (name, store) in stores().await {
        let (_, org) = user(&store, "a@example.com").await;
        let (_, other_org) = user(&store, "b@example.com").await;
        let a = store.create_asset(&org, asset(AssetType::Domain, "example.com")).await.expect("asset");
        let r = store
            .create_report(&org, new_report(Some(a.id.clone())), &unlimited())
            .await
            .expect("create")
            .expect("created");
        assert_eq!(store.claim_jobs("w1", 10, 60_000).await.expect("claim").len(), 1, "{name}");

        let (alert_id, delivery_id) = (AlertId::new(), DeliveryId::new());
        let delivery = NewDelivery {
            id: delivery_id.clone(),
            channel: "WEBHOOK".into(),
            target: "http://hooks.example.invalid/x".into(),
            body: "{}".into(),
            status: "PENDING".into(),
            last_error: None,
            job: Some(NewJob {
                id: delivery_id.to_string(),
                kind: JobKind::Delivery,
                payload: "{}".into(),
                priority: 0,
                run_at: 0,
                max_attempts: 3,
            }),
        };
        let fire = AlertFire {
            alert_id: alert_id.clone(),
            org_id: org.clone(),
            rule_id: RuleId::new(),
            subject: AlertSubject::Asset(a.id.clone()),
            severity: "HIGH".into(),
            message: "expiring".into(),
            actual: "3".into(),
            rule: "{}".into(),
            deliveries: vec![delivery],
        };
        let mut f = Finish::new(r.id.to_string(), JobOutcome::Done, ReportUpdate::Completed { result: "{}".into() });
        f.effects.alerts.push(fire);
        let finished = store.finish_jobs("w1", &[f]).await.expect("finish");
        assert_eq!((finished.applied, finished.reports.len()), (1, 1), "{name}");
        assert_eq!(finished.reports[0].result.as_deref(), Some("{}"), "{name}");

        let alert = store.get_alert(&org, &alert_id).await.expect("get").expect("raised");
        assert_eq!((alert.status.as_str(), alert.occurrences), ("OPEN", 1), "{name}");
        assert_eq!(alert.report_id, r.id.to_string(), "{name}");
        let page = store.list_deliveries(&org, &alert_id, &PageQuery::first(10)).await.expect("deliveries");
        assert_eq!(page.items.len(), 1, "{name}");
        assert_eq!(page.items[0].status, "PENDING", "{name}");

        let jobs = store.claim_jobs("w2", 10, 60_000).await.expect("claim delivery");
        assert_eq!(jobs.len(), 1, "{name}");
        assert_eq!((jobs[0].id.as_str(), jobs[0].kind()), (delivery_id.as_str(), Some(JobKind::Delivery)), "{name}");
        let update = DeliveryUpdate {
            delivery_id: delivery_id.clone(),
            attempt: AttemptRecord {
                id: "attempt-1".into(),
                trigger: "SCHEDULED".into(),
                started_at: 1,
                duration_ms: 5,
                status_code: Some(200),
                response_excerpt: None,
                error: None,
                outcome: "DELIVERED".into(),
            },
            status: "DELIVERED".into(),
            next_attempt_at: None,
            last_error: None,
            disable_webhook: None,
        };
        let mut f = Finish::new(delivery_id.to_string(), JobOutcome::Done, ReportUpdate::None);
        f.effects.delivery = Some(update.clone());
        assert_eq!(store.finish_jobs("w2", &[f]).await.expect("finish delivery").applied, 1, "{name}");
        let d = store.get_delivery(&org, &delivery_id).await.expect("get").expect("exists");
        assert_eq!((d.status.as_str(), d.attempts), ("DELIVERED", 1), "{name}");
        let attempts = store.delivery_attempts(&delivery_id).await.expect("attempts");
        assert_eq!(attempts.len(), 1, "{name}");
        assert_eq!((attempts[0].0, attempts[0].1.outcome.as_str()), (1, "DELIVERED"), "{name}");

        assert_eq!(store.redeliver(&other_org, &delivery_id, "{}").await.expect("other org"), Redeliver::NotFound);
        assert_eq!(
            store.redeliver(&org, &delivery_id, r#"{"manual":true}"#).await.expect("redeliver"),
            Redeliver::Queued
        );
        let jobs = store.claim_jobs("w3", 10, 60_000).await.expect("claim again");
        assert_eq!((jobs.len(), jobs[0].kind()), (1, Some(JobKind::Delivery)), "{name}");

        // The asset is deleted while the redelivery is being sent, and its alert and deliveries with it:
        // finishing the job records no attempt for the vanished delivery and does not fail the batch.
        assert!(store.delete_asset(&org, &a.id).await.expect("delete asset"), "{name}");
        let mut again = update;
        again.attempt.id = "attempt-2".into();
        let mut f = Finish::new(delivery_id.to_string(), JobOutcome::Done, ReportUpdate::None);
        f.effects.delivery = Some(again);
        store.finish_jobs("w3", &[f]).await.expect("finishing a delivery whose alert is gone");
        assert!(store.delivery_attempts(&delivery_id).await.expect("attempts").is_empty(), "{name}");
        assert!(store.claim_jobs("w4", 10, 60_000).await.expect("claim").is_empty(), "{name}: the job is finished");
    }
}
