//! The overview's counts: assets by type, alerts per day, and the monitored assets needing attention.

use tlink_domain::AssetType;
use tlink_store::{DAY_MS, now_millis, params};

use crate::{asset, stores, user};

#[tokio::test]
async fn assets_are_counted_by_type_and_lagging_scans_are_found() {
    for (name, store) in stores().await {
        let (_, org) = user(&store, &format!("o-{name}@example.com")).await;
        let (_, other) = user(&store, &format!("x-{name}@example.com")).await;
        let mut watched = asset(AssetType::Domain, "watched.example");
        watched.is_monitored = true;
        let watched = store.create_asset(&org, watched).await.expect("asset");
        store.create_asset(&org, asset(AssetType::Domain, "plain.example")).await.expect("asset");
        store.create_asset(&org, asset(AssetType::Ip, "192.0.2.1")).await.expect("asset");
        store.create_asset(&other, asset(AssetType::Ip, "192.0.2.2")).await.expect("asset");

        let counts = store.asset_type_counts(&org).await.expect("counts");
        let got: Vec<(AssetType, i64, i64)> = counts.iter().map(|c| (c.kind, c.total, c.monitored)).collect();
        assert_eq!(got, [(AssetType::Domain, 2, 1), (AssetType::Ip, 1, 0)], "{name}");

        // Just added: not yet stale. Two days on with a one-day interval and no scan: stale.
        let now = now_millis();
        assert!(store.assets_needing_attention(&org, now, 10).await.expect("attention").is_empty(), "{name}");
        let later = store.assets_needing_attention(&org, now + 3 * DAY_MS, 10).await.expect("attention");
        assert_eq!(later.len(), 1, "{name}");
        assert!(later[0].stale && !later[0].failing && later[0].id == watched.id, "{name}: {later:?}");

        assert!(store.alerts_per_day(&org, 0).await.expect("per day").is_empty(), "{name}");
        store
            .db()
            .execute("UPDATE assets SET last_scanned_at = $2 WHERE id = $1", &params![watched.id.as_str(), now])
            .await
            .expect("scanned");
        assert!(store.assets_needing_attention(&org, now, 10).await.expect("attention").is_empty(), "{name}");
    }
}
