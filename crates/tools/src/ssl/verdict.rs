//! The trust verdict on a recorded chain: what a standard client would decide, whether the chain leads to a
//! trusted root (in date, and dates aside), and whether the leaf names the host.
//!
//! This file exists because the verdict is computed after the handshake, on the chain the handshake recorded,
//! with the webpki verifier of rustls against the Mozilla roots plus the configured extra roots; keeping it apart
//! from the connection is what lets the tool analyse a chain a client would refuse.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::certificate::rfc3339;

/// The trust verdict on a recorded chain.
pub(super) struct Verdict {
    pub(super) chain_valid: bool,
    pub(super) trusted: bool,
    /// Why the chain is not trusted (dates aside).
    pub(super) trust_error: Option<String>,
    pub(super) hostname_matches: bool,
    /// Why a standard client would refuse the server.
    pub(super) error: Option<String>,
}

/// The verdict on `chain` (leaf first); `signature_error` says why the server's handshake signature did not
/// verify, when it did not (a legacy probe reads no signature).
pub(super) fn verdict(
    chain: &[CertificateDer<'static>],
    signature_error: Option<&str>,
    server_name: &ServerName<'static>,
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    now: DateTime<Utc>,
) -> Verdict {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Verdict::refused("no certificate presented".to_string());
    };
    let unix_now = unix_time(now.timestamp());
    let algorithms = provider.signature_verification_algorithms.all;

    // What a standard rustls client with these roots would decide (chain, dates and name together).
    let full = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| format!("building the verifier: {e:?}"))
        .and_then(|v| {
            v.verify_server_cert(leaf, intermediates, server_name, &[], unix_now).map_err(|e| describe_error(&e))
        });

    let parsed = match ParsedCertificate::try_from(leaf) {
        Ok(parsed) => parsed,
        Err(e) => {
            return Verdict::refused(format!("the leaf certificate cannot be used: {}", describe_error(&e)));
        }
    };
    let hostname_matches = verify_server_name(&parsed, server_name).is_ok();
    let at_now = verify_server_cert_signed_by_trust_anchor(&parsed, roots, intermediates, unix_now, algorithms);
    let chain_valid = at_now.is_ok();
    let (trusted, trust_error) = match at_now {
        Ok(()) => (true, None),
        Err(e) if is_date_error(&e) => {
            // Out of date: would the chain be trusted at a moment when every certificate is in date?
            match common_validity_moment(chain) {
                Some(moment) => {
                    match verify_server_cert_signed_by_trust_anchor(&parsed, roots, intermediates, moment, algorithms) {
                        Ok(()) => (true, None),
                        Err(e) => (false, Some(describe_error(&e))),
                    }
                }
                None => (false, Some(describe_error(&e))),
            }
        }
        Err(e) => (false, Some(describe_error(&e))),
    };
    let error = match full {
        Err(e) => Some(e),
        Ok(_) => signature_error.map(str::to_string),
    };
    Verdict { chain_valid, trusted, trust_error, hostname_matches, error }
}

impl Verdict {
    /// Nothing can be trusted or matched, for `reason`.
    pub(super) fn refused(reason: String) -> Verdict {
        Verdict {
            chain_valid: false,
            trusted: false,
            trust_error: Some(reason.clone()),
            hostname_matches: false,
            error: Some(reason),
        }
    }
}

fn unix_time(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

fn unix_secs(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

fn is_date_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }
        )
    )
}

/// The latest `notBefore` of the chain, if it is not after the earliest `notAfter`.
fn common_validity_moment(chain: &[CertificateDer<'_>]) -> Option<UnixTime> {
    let mut start = i64::MIN;
    let mut end = i64::MAX;
    for der in chain {
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        start = start.max(cert.validity().not_before.timestamp());
        end = end.min(cert.validity().not_after.timestamp());
    }
    (start <= end).then(|| unix_time(start))
}

/// A verifier error in words.
fn describe_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the chain does not lead to a trusted root (unknown issuer)".to_string()
        }
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            "a certificate's signature does not verify with its issuer's key".to_string()
        }
        rustls::Error::InvalidCertificate(CertificateError::UnsupportedSignatureAlgorithmContext { .. }) => {
            "a certificate is signed with an algorithm that is not accepted (e.g. SHA-1 or MD5)".to_string()
        }
        rustls::Error::InvalidCertificate(CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
            ..
        }) => "a certificate is signed with an algorithm not accepted for its issuer's key (e.g. an RSA key \
               under 2048 bits)"
            .to_string(),
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. }) => {
            format!("a certificate of the chain expired on {}", rfc3339(unix_secs(*not_after)))
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { not_before, .. }) => {
            format!("a certificate of the chain is not valid before {}", rfc3339(unix_secs(*not_before)))
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { expected, .. }) => {
            format!("the leaf certificate is not valid for {}", expected.to_str())
        }
        rustls::Error::InvalidCertificate(inner) => inner.to_string(),
        other => other.to_string(),
    }
}
