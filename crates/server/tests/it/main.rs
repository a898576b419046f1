//! HTTP integration tests: the whole router, driven in-process (and once over a real socket), against
//! SQLite always and against PostgreSQL when `TLINK_TEST_DATABASE_URL` is set.
//!
//! Each test body is an `async fn case(app: TestApp)`; `both!(name, case)` turns it into
//! `name::sqlite` and `name::postgres`, each on a fresh database file or schema.

/// Generates `mod $name { sqlite(), postgres() }` running `$case` on each backend. Attributes before
/// the name (e.g. `#[ignore = "…"]`) go on both tests; an optional third argument is a closure
/// tweaking the [`tlink_server::Config`] of the app under test.
macro_rules! both {
    ($(#[$meta:meta])* $name:ident, $case:ident) => {
        both!($(#[$meta])* $name, $case, |_: &mut tlink_server::Config| {});
    };
    ($(#[$meta:meta])* $name:ident, $case:ident, $tweak:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            $(#[$meta])*
            async fn sqlite() {
                let app = $crate::support::TestApp::sqlite($tweak).await;
                super::$case(app).await;
            }

            #[tokio::test]
            $(#[$meta])*
            async fn postgres() {
                let Some(app) = $crate::support::TestApp::postgres($tweak).await else {
                    return;
                };
                super::$case(app).await;
            }
        }
    };
}

mod agents;
mod alerts;
mod assets;
mod audit;
mod auth;
mod corrupt;
mod dashboard;
#[allow(dead_code)] // shared with the tools tests, which use all of it
#[path = "../../../tools/tests/it/dnsserver.rs"]
mod dnsserver;
mod errors;
mod hawk;
mod hostile;
mod isolation;
mod keys;
mod layers;
mod limit_families;
mod limits;
mod lists;
mod metrics_export;
mod openapi;
mod orgs;
#[allow(dead_code)] // shared with the tools tests
#[path = "../../../tools/tests/it/smtpsink.rs"]
mod smtpsink;
mod socket;
mod support;
mod system;
mod tenancy;
mod tools;
mod v2;
mod vulns;
