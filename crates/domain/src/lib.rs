//! Pure domain types for tlink.
//!
//! This crate holds the vocabulary that every other part of tlink speaks:
//! typed identifiers, roles and plans, asset values that have already been
//! parsed and normalised at the edge, the partial ISO-8601 time bounds used by
//! `from`/`until` query parameters, and the alert-rule conditions checked
//! against tool results. It performs no I/O, so the rules it encodes can be
//! tested exhaustively and shared by the store, the server and the
//! command-line client without any of them re-implementing them.
//!
//! - [`ids`] exists so that a user id can never be passed where an
//!   organisation id is expected, and so that every id on the wire and in
//!   storage has one textual form (a lower-case hyphenated UUIDv7).
//! - [`role`] exists so that authorisation decisions (who may write, who may
//!   manage members) and plan limits live in one place instead of being
//!   scattered across handlers.
//! - [`asset`] exists to parse, not validate: an [`AssetValue`] can only be
//!   built through [`AssetValue::parse`], so holding one proves the value is
//!   well-formed and in its canonical form, which keeps deduplication and
//!   look-ups exact.
//! - [`time`] exists so that `from`/`until` bounds of differing precision turn
//!   into one half-open millisecond range, and so that timestamps are stored
//!   and rendered the same way everywhere.
//! - [`rules`] exists so that what an alert rule means (which values a field
//!   path reaches, when `gte` or `changed` holds, how a match is worded) is
//!   decided once, away from storage and scheduling, and so that a bad rule is
//!   rejected when it is saved rather than when a scan completes; its
//!   [`RuleIndex`] keeps checking thousands of rules cheap enough to run after
//!   every report.
//! - [`hawk`] exists so that the byte-exact rules of Hawk request signing
//!   (header grammar, normalized string, payload hash, response signature)
//!   are pinned by the reference implementation's test vectors, apart from
//!   the HTTP layer that supplies keys, clock and nonce memory.
//! - [`pkgver`] exists so that installed packages are matched against
//!   advisories with each distribution's own version ordering (dpkg, rpm,
//!   apk) and OSV's range rules, tested against the tools' own orderings.
//! - [`osv`] exists so that an OSV advisory from a distribution's feed is
//!   read once into what matching needs (the CVEs it covers, one severity,
//!   the source packages of each release it affects) and so that "is this
//!   installed version affected, and what fixes it" has one answer.
//! - [`tool`] and [`target`] exist because naming a tool ([`ToolKey`]) and
//!   the observable it runs against ([`Target`]) is shared by the API, the
//!   job queue, the alert rules and the tools, none of which should need the
//!   network clients to do it.
//! - [`inventory`] exists because a host's packages and ports are read by
//!   the agent, received by the API and matched by the server in one shape.

#![forbid(unsafe_code)]

pub mod asset;
pub mod hawk;
pub mod ids;
pub mod inventory;
pub mod osv;
pub mod pkgver;
pub mod role;
pub mod rules;
pub mod target;
pub mod time;
pub mod tool;

pub use asset::*;
pub use ids::*;
pub use inventory::{Addresses, Package, Port};
pub use role::*;
pub use rules::*;
pub use target::*;
pub use time::*;
pub use tool::*;
