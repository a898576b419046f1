//! Secrets that tlink must use again later (webhook signing secrets) are stored sealed: encrypted and
//! authenticated with ChaCha20-Poly1305 under a key derived from `secrets_key`, so a database dump alone
//! does not let anyone forge webhook signatures. Secrets that are only ever compared (API keys, refresh
//! tokens) are hashed instead, elsewhere.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The sealing format's version prefix.
const PREFIX: &str = "v1.";

/// Seals and opens stored secrets. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Derives the sealing key from the configured (or generated) secrets key.
    pub fn new(secrets_key: &[u8]) -> Sealer {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secrets_key).expect("HMAC takes any key length");
        mac.update(b"tlink/sealed-secrets/v1");
        let key = mac.finalize().into_bytes();
        Sealer { cipher: ChaCha20Poly1305::new_from_slice(&key).expect("a 32-byte key") }
    }

    /// `v1.` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plain: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self.cipher.encrypt(&nonce, plain.as_bytes()).expect("encryption of a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// The secret, or `None` when the value was not sealed by this key (another `secrets_key`) or is corrupt.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = B64.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, body) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&Nonce::from(nonce), body).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let sealed = s.seal("whsec_abc");
        assert!(sealed.starts_with("v1.") && !sealed.contains("whsec"));
        assert_eq!(s.open(&sealed).as_deref(), Some("whsec_abc"));
        assert_ne!(s.seal("whsec_abc"), sealed, "a fresh nonce per seal");
        let other = Sealer::new(b"another key another key another k");
        assert_eq!(other.open(&sealed), None);
        let mut bytes = B64.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(s.open(&format!("v1.{}", B64.encode(bytes))), None);
        assert_eq!(s.open("whsec_plain"), None);
    }
}
