//! Reading the certificates of the presented chain: names, dates, key, signature algorithm, fingerprint and
//! whether a certificate is self-signed.
//!
//! This file exists because describing a certificate is X.509 parsing and naming (OIDs to the names people
//! know), independent of how the chain was obtained or whether it is trusted; the findings of the tool are drawn
//! from what it reads.

use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use super::{Finding, Severity};
use crate::ToolError;

/// One certificate of the presented chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    /// Subject distinguished name (`O=Example, CN=example.com`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// The subject's first common name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// DNS names and IP addresses (textual form) of the subjectAltName extension.
    pub subject_alt_names: Vec<String>,
    /// Serial number, lowercase hexadecimal without separators.
    pub serial_number: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days until `notAfter` (negative once expired).
    pub days_to_expiry: i64,
    /// `notAfter` is in the past.
    pub expired: bool,
    /// `notBefore` is in the future.
    pub not_yet_valid: bool,
    /// Public key type: `RSA`, `EC`, `Ed25519`, `Ed448`, `DSA`, or the algorithm OID.
    pub key_type: String,
    /// Public key size in bits (modulus bits for RSA, curve bits for EC), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Named curve of an EC key (`P-256`, `P-384`, `P-521`, or the curve OID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
    /// Signature algorithm (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `sha1WithRSAEncryption`, `Ed25519`,
    /// or the OID).
    pub signature_algorithm: String,
    /// Subject and issuer are the same name (and the key identifiers, when present, agree).
    pub self_signed: bool,
    /// basicConstraints marks the certificate as a CA.
    pub is_ca: bool,
    /// SHA-256 of the DER encoding, lowercase hexadecimal without separators.
    pub sha256_fingerprint: String,
}

/// Describes each certificate; stops at the first that cannot be parsed (the leaf must parse).
pub(crate) fn describe_chain(
    chain: &[CertificateDer<'_>],
    now: DateTime<Utc>,
) -> Result<(Vec<CertificateInfo>, Option<Finding>), ToolError> {
    let mut out = Vec::with_capacity(chain.len());
    for (i, der) in chain.iter().enumerate() {
        match describe_certificate(der.as_ref(), now) {
            Ok(info) => out.push(info),
            Err(e) if i == 0 => {
                return Err(ToolError::Failed(format!("the server's certificate cannot be parsed: {e}")));
            }
            Err(e) => {
                let finding = Finding {
                    code: "malformed_certificate".into(),
                    severity: Severity::Medium,
                    message: format!(
                        "certificate #{i} of the chain cannot be parsed ({e}); it and the following ones are not \
                         described"
                    ),
                };
                return Ok((out, Some(finding)));
            }
        }
    }
    Ok((out, None))
}

fn describe_certificate(der: &[u8], now: DateTime<Utc>) -> Result<CertificateInfo, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let now_secs = now.timestamp();

    let mut subject_alt_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => subject_alt_names.push((*dns).to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        subject_alt_names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    let (key_type, key_size, curve) = key_description(&cert);
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);

    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        common_name,
        subject_alt_names,
        serial_number: hex::encode(cert.raw_serial()),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_to_expiry: (not_after - now_secs).div_euclid(86_400),
        expired: now_secs > not_after,
        not_yet_valid: now_secs < not_before,
        key_type,
        key_size,
        curve,
        signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
        self_signed: is_self_signed(&cert),
        is_ca,
        sha256_fingerprint: sha256_hex(der),
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

pub(super) fn rfc3339(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map_or_else(|| secs.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn sha256_hex(data: &[u8]) -> String {
    match rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13() {
        Some(suite) => hex::encode(suite.common.hash_provider.hash(data).as_ref()),
        None => String::new(),
    }
}

/// Key type, size in bits and EC curve.
fn key_description(cert: &X509Certificate<'_>) -> (String, Option<u32>, Option<String>) {
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Some(bit_length(rsa.modulus)),
                _ => None,
            };
            ("RSA".into(), bits, None)
        }
        "1.2.840.10045.2.1" => {
            let curve_oid = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            let (name, bits) = match curve_oid.as_deref() {
                Some("1.2.840.10045.3.1.7") => (Some("P-256".to_string()), Some(256)),
                Some("1.3.132.0.34") => (Some("P-384".to_string()), Some(384)),
                Some("1.3.132.0.35") => (Some("P-521".to_string()), Some(521)),
                Some("1.3.132.0.10") => (Some("secp256k1".to_string()), Some(256)),
                Some(other) => (Some(other.to_string()), ec_point_bits(&spki.subject_public_key.data)),
                None => (None, ec_point_bits(&spki.subject_public_key.data)),
            };
            ("EC".into(), bits, name)
        }
        "1.3.101.112" => ("Ed25519".into(), Some(256), None),
        "1.3.101.113" => ("Ed448".into(), Some(456), None),
        "1.2.840.10040.4.1" => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::DSA(y)) => Some(bit_length(y)),
                _ => None,
            };
            ("DSA".into(), bits, None)
        }
        _ => (oid, None, None),
    }
}

/// Bits of a big-endian unsigned integer, ignoring leading zero bytes.
fn bit_length(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(start) => &bytes[start..],
        None => return 0,
    };
    let lead = trimmed.first().map_or(0, |b| 8 - b.leading_zeros());
    u32::try_from(trimmed.len().saturating_sub(1)).unwrap_or(u32::MAX / 16).saturating_mul(8).saturating_add(lead)
}

/// Field size of an uncompressed or compressed EC point.
fn ec_point_bits(point: &[u8]) -> Option<u32> {
    let bytes = match point.first()? {
        4 => (point.len() - 1) / 2,
        2 | 3 => point.len() - 1,
        _ => return None,
    };
    u32::try_from(bytes * 8).ok()
}

/// Conventional (OpenSSL) names of signature algorithms; unknown ones keep their OID.
fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-SHA256",
        other => other,
    }
    .to_string()
}

pub(super) fn is_sha1(signature_algorithm: &str) -> bool {
    matches!(signature_algorithm, "sha1WithRSAEncryption" | "ecdsa-with-SHA1" | "dsa-with-SHA1")
}

pub(super) fn is_md(signature_algorithm: &str) -> bool {
    matches!(signature_algorithm, "md2WithRSAEncryption" | "md5WithRSAEncryption")
}

/// Same subject and issuer, and matching key identifiers when both are present.
fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return false;
    }
    let mut ski = None;
    let mut aki = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|id| id.0),
            _ => {}
        }
    }
    match (ski, aki) {
        (Some(s), Some(a)) => s == a,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_signature_algorithms() {
        assert_eq!(signature_name("1.2.840.113549.1.1.5"), "sha1WithRSAEncryption");
        assert_eq!(signature_name("1.2.3.4"), "1.2.3.4");
    }

    #[test]
    fn measures_keys() {
        assert_eq!(bit_length(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(bit_length(&[0x01, 0xff]), 9);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(ec_point_bits(&[4; 65]), Some(256));
    }
}
