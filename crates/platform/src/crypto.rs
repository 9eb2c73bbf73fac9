//! Field encryption (AES-256-GCM with key versions), keyed blind indexes and tokens.
//!
//! Keys come from configuration and never touch the database. A ciphertext starts with the
//! one-byte key version, so old rows stay readable after a new key is added, and
//! `yiyang keys rewrap` re-encrypts them under the current key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use yiyang_core::{AppError, AppResult};

type HmacSha256 = Hmac<Sha256>;

/// All secret keys of a node.
#[derive(Clone)]
pub struct Keys {
    /// Data-encryption keys by version; the highest version encrypts.
    data_keys: Vec<(u8, [u8; 32])>,
    blind_key: [u8; 32],
    pub token_key: [u8; 32],
    pub mask_key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("data_key_versions", &self.versions())
            .finish_non_exhaustive()
    }
}

/// Decodes a 32-byte key given as 64 hex characters or unpadded/padded base64.
pub fn parse_key(s: &str) -> AppResult<[u8; 32]> {
    let s = s.trim();
    let bytes = if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(s).ok()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .or_else(|| URL_SAFE_NO_PAD.decode(s).ok())
    };
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| {
            AppError::validation(
                "config.key_invalid",
                "密钥须为32字节（64位十六进制或Base64）",
            )
        })
}

/// A fresh random 32-byte key as hex.
pub fn generate_key_hex() -> String {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    hex::encode(k)
}

impl Keys {
    pub fn new(
        data_keys: Vec<(u8, [u8; 32])>,
        blind_key: [u8; 32],
        token_key: [u8; 32],
        mask_key: [u8; 32],
    ) -> AppResult<Self> {
        if data_keys.is_empty() {
            return Err(AppError::validation(
                "config.key_missing",
                "至少需要配置一个数据加密密钥",
            ));
        }
        let mut data_keys = data_keys;
        data_keys.sort_by_key(|(v, _)| std::cmp::Reverse(*v));
        Ok(Self {
            data_keys,
            blind_key,
            token_key,
            mask_key,
        })
    }

    /// Deterministic keys for tests only.
    pub fn for_tests() -> Self {
        Self::new(vec![(1, [1; 32])], [2; 32], [3; 32], [4; 32]).expect("keys")
    }

    pub fn versions(&self) -> Vec<u8> {
        self.data_keys.iter().map(|(v, _)| *v).collect()
    }

    pub fn current_version(&self) -> u8 {
        self.data_keys[0].0
    }

    /// `version || nonce(12) || ciphertext+tag`.
    pub fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        let (ver, key) = &self.data_keys[0];
        let cipher = Aes256Gcm::new(key.into());
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("aes-gcm encrypt");
        let mut out = Vec::with_capacity(1 + 12 + ct.len());
        out.push(*ver);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt(&self, blob: &[u8]) -> AppResult<String> {
        if blob.len() < 1 + 12 + 16 {
            return Err(AppError::internal("ciphertext too short"));
        }
        let key = self
            .data_keys
            .iter()
            .find(|(v, _)| *v == blob[0])
            .map(|(_, k)| k)
            .ok_or_else(|| AppError::internal(format!("no data key of version {}", blob[0])))?;
        let cipher = Aes256Gcm::new(key.into());
        let pt = cipher
            .decrypt(Nonce::from_slice(&blob[1..13]), &blob[13..])
            .map_err(|_| AppError::internal("decryption failed (wrong key or tampered data)"))?;
        String::from_utf8(pt).map_err(AppError::internal)
    }

    /// Whether a ciphertext was made with an older key than the current one.
    pub fn needs_rewrap(&self, blob: &[u8]) -> bool {
        blob.first().is_some_and(|v| *v != self.current_version())
    }

    /// Keyed blind index for equality search on an encrypted field.
    pub fn blind_index(&self, kind: &str, normalised: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.blind_key).expect("hmac key");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(normalised.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// HMAC-SHA256 with the token key.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.token_key).expect("hmac key");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    pub fn verify_signature(&self, data: &[u8], sig: &[u8]) -> bool {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.token_key).expect("hmac key");
        mac.update(data);
        mac.verify_slice(sig).is_ok()
    }

    /// Keyed hash used by the masking algorithm `hash`.
    pub fn mask_hash(&self, value: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.mask_key).expect("hmac key");
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..6])
    }
}

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_round_trips_and_uses_fresh_nonces() {
        let k = Keys::for_tests();
        let a = k.encrypt("44140219490101001X");
        let b = k.encrypt("44140219490101001X");
        assert_ne!(a, b);
        assert_eq!(k.decrypt(&a).unwrap(), "44140219490101001X");
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let k = Keys::for_tests();
        let mut a = k.encrypt("secret");
        let last = a.len() - 1;
        a[last] ^= 1;
        assert!(k.decrypt(&a).is_err());
    }

    #[test]
    fn rotation_keeps_old_rows_readable_and_marks_them_for_rewrap() {
        let old = Keys::new(vec![(1, [7; 32])], [2; 32], [3; 32], [4; 32]).unwrap();
        let blob = old.encrypt("x");
        let new = Keys::new(vec![(1, [7; 32]), (2, [8; 32])], [2; 32], [3; 32], [4; 32]).unwrap();
        assert_eq!(new.decrypt(&blob).unwrap(), "x");
        assert!(new.needs_rewrap(&blob));
        assert!(!new.needs_rewrap(&new.encrypt("x")));
    }

    #[test]
    fn blind_index_is_deterministic_and_kind_separated() {
        let k = Keys::for_tests();
        assert_eq!(k.blind_index("id", "1"), k.blind_index("id", "1"));
        assert_ne!(k.blind_index("id", "1"), k.blind_index("phone", "1"));
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let h = generate_key_hex();
        assert!(parse_key(&h).is_ok());
        assert!(parse_key(&base64::engine::general_purpose::STANDARD.encode([9u8; 32])).is_ok());
        assert!(parse_key("short").is_err());
    }
}
