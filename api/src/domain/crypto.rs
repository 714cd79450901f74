//! Authenticated encryption of small secrets at rest (ChaCha20-Poly1305, random nonce prepended) and
//! key derivation by domain-separated SHA-256. Used for idempotent answers and the API's signing keys.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// A 256-bit key from a label and parts; each part is length-prefixed so parts cannot run together.
pub fn derive_key(label: &str, parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in std::iter::once(label).chain(parts.iter().copied()) {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Encrypts and authenticates `plain`: nonce ‖ ciphertext ‖ tag.
pub fn seal(key: &[u8; 32], plain: &[u8]) -> anyhow::Result<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), plain)
        .map_err(|_| anyhow::anyhow!("encryption failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts what `seal` produced; `None` when the key is wrong or the bytes were altered.
pub fn open(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    cipher.decrypt(Nonce::from_slice(nonce), body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_unaltered() {
        let k = derive_key("test", &["a"]);
        let mut s = seal(&k, b"secret").expect("seal");
        assert_eq!(open(&k, &s).as_deref(), Some(&b"secret"[..]));
        assert!(open(&derive_key("test", &["b"]), &s).is_none());
        let last = s.len() - 1;
        s[last] ^= 1;
        assert!(open(&k, &s).is_none());
        assert_ne!(derive_key("x", &["ab", "c"]), derive_key("x", &["a", "bc"]));
    }
}
