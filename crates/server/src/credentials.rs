//! Credentials, whichever front end handles them: passwords (Argon2id), access tokens (HS256 JWT), random
//! tokens and API keys (stored as SHA-256, shown once). The HTTP side checks them on requests
//! ([`crate::http::auth`]); the operations create them; the command line and the bootstrap use the same
//! functions.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tlink_domain::UserId;
use tlink_store::now_millis;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// API keys: `tlpro_` followed by this many base62 characters (≈ 238 bits).
pub const API_KEY_RANDOM_LEN: usize = 40;
pub const API_KEY_PREFIX: &str = "tlpro_";
/// Characters of the key kept visible (and indexed) to find it: `tlpro_` plus six.
pub const API_KEY_VISIBLE_LEN: usize = 12;

/// A random base62 string from the thread-local CSPRNG (ChaCha, seeded from the OS), which avoids a
/// system call per character.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char).collect()
}

/// Hex SHA-256, for high-entropy secrets (refresh tokens, API keys), where a slow hash buys nothing.
pub fn sha256_hex(s: &str) -> String {
    // Into a buffer: `hex::encode` collects chars one by one, a measurable share of an API key's check.
    let mut out = [0u8; 64];
    match hex::encode_to_slice(Sha256::digest(s.as_bytes()), &mut out) {
        Ok(()) => String::from_utf8(out.to_vec()).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Hashes a password with Argon2id (default parameters), off the async threads.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

/// Verifies a password against a stored hash, off the async threads. With no stored hash (unknown
/// user) it verifies against a fixed dummy hash so both paths cost the same.
pub async fn verify_password(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = match stored {
            Some(h) => h,
            None => DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut OsRng);
                    Argon2::default()
                        .hash_password(b"not a real password", &salt)
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .clone(),
        };
        let ok = PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        Ok(ok && known)
    })
    .await?
}

/// A new API key: the full key (shown once) and what is stored.
pub struct GeneratedKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate_api_key() -> GeneratedKey {
    let key = format!("{API_KEY_PREFIX}{}", random_token(API_KEY_RANDOM_LEN));
    GeneratedKey { prefix: key[..API_KEY_VISIBLE_LEN].to_string(), hash: sha256_hex(&key), key }
}

/// Whether `key` has the shape of one of our API keys (checked before any database work).
pub(crate) fn well_formed_key(key: &str) -> bool {
    key.len() == API_KEY_PREFIX.len() + API_KEY_RANDOM_LEN
        && key.starts_with(API_KEY_PREFIX)
        && key[API_KEY_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Signing keys for access tokens and list cursors, derived from the configured secret.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_secs: u64,
    /// Key for cursor HMACs (distinct from the token key).
    pub cursor_key: Vec<u8>,
    /// Key for the dashboard's CSRF tokens (distinct from the others).
    csrf_key: Vec<u8>,
    /// Access tokens verified lately.
    verified: VerifiedTokens,
}

/// Leeway, in seconds, on an access token's expiry (clocks of several processes differ a little).
const ACCESS_LEEWAY_SECS: i64 = 5;

/// Access tokens already verified, with their subject and expiry: a client sends the same token with
/// every request for its whole life, and decoding and checking it again (base64, two JSON documents, an
/// HMAC with its key schedule) cost more than the rest of authenticating a request.
///
/// Only a token that passed [`Keys::verify_access`] in full is kept; an answer from here is what that check
/// would give again (the token is stateless and signed), expiry included, which is tested at each use.
/// Entries are found by a keyed hash of the token and then compared in full, in constant time. When full,
/// the cache starts over.
struct VerifiedTokens {
    hasher: std::hash::RandomState,
    entries: parking_lot::RwLock<std::collections::HashMap<u64, VerifiedToken>>,
}

struct VerifiedToken {
    token: Box<[u8]>,
    user: UserId,
    exp: i64,
}

/// Tokens kept at most.
const VERIFIED_TOKENS_MAX: usize = 4096;

impl VerifiedTokens {
    fn new() -> Self {
        VerifiedTokens { hasher: std::hash::RandomState::new(), entries: parking_lot::RwLock::default() }
    }

    fn get(&self, token: &str, now_secs: i64) -> Option<UserId> {
        use std::hash::BuildHasher as _;
        use subtle::ConstantTimeEq as _;
        let entries = self.entries.read();
        let hit = entries.get(&self.hasher.hash_one(token.as_bytes()))?;
        let same = bool::from(hit.token.as_ref().ct_eq(token.as_bytes()));
        (same && now_secs <= hit.exp + ACCESS_LEEWAY_SECS).then(|| hit.user.clone())
    }

    fn put(&self, token: &str, user: &UserId, exp: i64) {
        use std::hash::BuildHasher as _;
        let key = self.hasher.hash_one(token.as_bytes());
        let mut entries = self.entries.write();
        if entries.len() >= VERIFIED_TOKENS_MAX {
            entries.clear();
        }
        entries.insert(key, VerifiedToken { token: token.as_bytes().into(), user: user.clone(), exp });
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    typ: String,
}

impl Keys {
    pub fn new(secret: &[u8], access_ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = ACCESS_LEEWAY_SECS.unsigned_abs();
        validation.set_required_spec_claims(&["exp", "sub"]);
        let cursor_key = Sha256::new().chain_update(b"tlink cursor key\0").chain_update(secret).finalize().to_vec();
        let csrf_key = Sha256::new().chain_update(b"tlink csrf key\0").chain_update(secret).finalize().to_vec();
        Keys {
            csrf_key,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl_secs,
            cursor_key,
            verified: VerifiedTokens::new(),
        }
    }

    /// Issues a 15-minute (configurable) access token for `user`.
    pub fn issue_access(&self, user: &UserId) -> anyhow::Result<String> {
        let now = now_millis() / 1000;
        let claims = Claims {
            sub: user.as_str().to_string(),
            iat: now,
            exp: now + i64::try_from(self.access_ttl_secs).unwrap_or(900),
            typ: "access".into(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The CSRF token of a browser session (its login's family id): an HMAC, so it needs no storage and
    /// dies with the session.
    pub fn csrf_token(&self, session: &str) -> String {
        use base64::Engine as _;
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(&self.csrf_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"csrf\0");
        mac.update(session.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `presented` is the CSRF token of `session`, compared in constant time.
    pub fn check_csrf(&self, session: &str, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        bool::from(self.csrf_token(session).as_bytes().ct_eq(presented.as_bytes()))
    }

    pub(crate) fn verify_access(&self, token: &str) -> Option<UserId> {
        let now = now_millis() / 1000;
        if let Some(user) = self.verified.get(token, now) {
            return Some(user);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        if data.claims.typ != "access" {
            return None;
        }
        let user = UserId::parse(&data.claims.sub).ok()?;
        self.verified.put(token, &user, data.claims.exp);
        Some(user)
    }
}

#[cfg(test)]
mod tests {
    /// Stored key hashes are lowercase hex of SHA-256: the buffered encoding must write exactly that.
    #[test]
    fn sha256_hex_is_lowercase_hex_of_the_digest() {
        assert_eq!(
            super::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "FIPS 180-2's example"
        );
        assert_eq!(super::sha256_hex("").len(), 64);
    }

    /// The verified-token cache answers only for the exact token it checked, and never past its expiry.
    #[test]
    fn a_cached_token_is_served_only_as_is_and_until_it_expires() {
        let keys = super::Keys::new(b"a secret of reasonable length for tests", 900);
        let user = tlink_domain::UserId::new();
        let token = keys.issue_access(&user).expect("token");
        assert_eq!(keys.verify_access(&token), Some(user.clone()), "checked in full");
        assert_eq!(keys.verify_access(&token), Some(user.clone()), "from the cache");
        // A token differing in one character of its signature is not the cached one.
        let at = token.rfind('.').expect("three parts") + 1;
        let swapped = if token[at..].starts_with('A') { "B" } else { "A" };
        let forged = [&token[..at], swapped, &token[at + 1..]].concat();
        assert_eq!(forged.len(), token.len());
        assert_eq!(keys.verify_access(&forged), None);
        // An entry whose expiry has passed (beyond the leeway) is not served.
        let now = tlink_store::now_millis() / 1000;
        let cache = super::VerifiedTokens::new();
        cache.put("t", &user, now - super::ACCESS_LEEWAY_SECS - 1);
        assert_eq!(cache.get("t", now), None);
        cache.put("t", &user, now);
        assert_eq!(cache.get("t", now), Some(user));
        assert_eq!(cache.get("u", now), None);
    }
}
