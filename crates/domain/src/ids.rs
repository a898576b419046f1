//! Typed identifiers.
//!
//! Every entity in tlink is keyed by a UUIDv7. Wrapping each kind of id in
//! its own newtype exists so the compiler rejects mixing them up (passing an
//! [`OrgId`] where a [`UserId`] is expected), and so that the textual form is
//! fixed: lower-case, hyphenated, exactly as [`uuid::Uuid`] prints it. UUIDv7
//! values sort by creation time, which keeps storage indexes append-mostly and
//! makes id order a reasonable tiebreak for time order.

use std::fmt;
use std::str::FromStr;

/// Why a string was not accepted as an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a UUID")]
pub struct IdError;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// On the wire and in storage it is a lower-case hyphenated UUID string.
        #[derive(
            Debug,
            Clone,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7).
            #[allow(clippy::new_without_default)]
            #[must_use]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().hyphenated().to_string())
            }

            /// Parses any textual UUID form accepted by [`uuid::Uuid`] and
            /// normalises it to lower-case hyphenated.
            ///
            /// # Errors
            ///
            /// [`IdError`] if `s` is not a UUID.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                uuid::Uuid::parse_str(s.trim())
                    .map(|u| Self(u.hyphenated().to_string()))
                    .map_err(|_| IdError)
            }

            /// The id as a lower-case hyphenated UUID string.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from storage, where it was written by
            /// this crate and so is already in normal form. No check is made.
            #[must_use]
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

typed_id!(
    /// Identifies a user account.
    UserId
);
typed_id!(
    /// Identifies an organisation (the tenant that owns assets and members).
    OrgId
);
typed_id!(
    /// Identifies a stored asset (a domain, IP, hash, ...).
    AssetId
);
typed_id!(
    /// Identifies an API key.
    ApiKeyId
);
typed_id!(
    /// Identifies one issued token (e.g. a refresh token).
    TokenId
);
typed_id!(
    /// Identifies a refresh-token family, so that reuse of a rotated token can
    /// revoke every token descended from the same login.
    FamilyId
);
typed_id!(
    /// Identifies a tool report (one run of one tool against one target).
    ReportId
);
typed_id!(
    /// Identifies an alert rule.
    RuleId
);
typed_id!(
    /// Identifies an alert (one rule matching one asset, until resolved).
    AlertId
);
typed_id!(
    /// Identifies a host agent (one host of an organization).
    AgentId
);
typed_id!(
    /// Identifies an agent enrollment credential.
    EnrollmentId
);
typed_id!(
    /// Identifies one notification of an alert (a webhook or an email) and, for webhooks, its
    /// `webhook-id`: the same on every attempt, so receivers can de-duplicate.
    DeliveryId
);

/// An asset named by its organization, id and type: what a tool job carries so that finishing the run can
/// update the asset and check the organization's alert rules without reading the asset first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AssetRef {
    pub id: AssetId,
    pub org_id: OrgId,
    pub kind: crate::AssetType,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_v7_lowercase_hyphenated() {
        let id = UserId::new();
        let u = uuid::Uuid::parse_str(id.as_str()).expect("uuid");
        assert_eq!(u.get_version_num(), 7);
        assert_eq!(id.as_str(), u.hyphenated().to_string());
        assert_eq!(id.as_str().len(), 36);
        assert_eq!(id.as_str(), id.as_str().to_ascii_lowercase());
    }

    #[test]
    fn new_ids_are_distinct_and_ordered() {
        let a = OrgId::new();
        let b = OrgId::new();
        assert_ne!(a, b);
        assert!(a < b);
    }

    #[test]
    fn parse_normalises() {
        let cases = [
            ("0190F3C2-7B1E-7ABC-8DEF-0123456789AB", "0190f3c2-7b1e-7abc-8def-0123456789ab"),
            ("0190f3c27b1e7abc8def0123456789ab", "0190f3c2-7b1e-7abc-8def-0123456789ab"),
            ("{0190f3c2-7b1e-7abc-8def-0123456789ab}", "0190f3c2-7b1e-7abc-8def-0123456789ab"),
            ("urn:uuid:0190f3c2-7b1e-7abc-8def-0123456789ab", "0190f3c2-7b1e-7abc-8def-0123456789ab"),
        ];
        for (input, want) in cases {
            assert_eq!(AssetId::parse(input).expect(input).as_str(), want);
        }
    }

    #[test]
    fn parse_rejects_non_uuids() {
        for bad in [
            "",
            "abc",
            "0190f3c2-7b1e-7abc-8def-0123456789a",
            "0190f3c2-7b1e-7abc-8def-0123456789abc",
            "0190f3c2-7b1e-7abc-8def-0123456789ag",
        ] {
            let err = ApiKeyId::parse(bad).expect_err(bad);
            assert_eq!(err.to_string(), "must be a UUID");
        }
    }

    #[test]
    fn serde_is_transparent_string() {
        let id = TokenId::parse("0190f3c2-7b1e-7abc-8def-0123456789ab").expect("id");
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"0190f3c2-7b1e-7abc-8def-0123456789ab\"");
        let back: TokenId = serde_json::from_str(&json).expect("back");
        assert_eq!(back, id);
    }

    #[test]
    fn schema_is_uuid_string() {
        let schema = <UserId as utoipa::PartialSchema>::schema();
        let json = serde_json::to_value(&schema).expect("json");
        assert_eq!(json["type"], "string");
        assert_eq!(json["format"], "uuid");
    }

    #[test]
    fn display_from_str_and_trusted_round_trip() {
        let id = FamilyId::new();
        let back: FamilyId = id.to_string().parse().expect("parse");
        assert_eq!(id, back);
        assert_eq!(FamilyId::from_trusted(id.as_str().to_owned()), id);
    }
}
