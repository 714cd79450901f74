//! Credential formats: API tokens `inlet_<id>_<secret>`, stream keys `sk_<id>_<secret>`, dashboard
//! sessions `ses_<id>_<secret>`, password-reset links `rst_<id>_<secret>`. Owns generation
//! (CSPRNG), parsing and hashing. The id part is public (it is what lists and logs show); the
//! secret part is shown once and only its hash is stored.
//!
//! Secrets carry 190 bits of entropy, so a fast domain-separated SHA-256 is enough to make a
//! database dump useless; slow hashes (argon2) are kept for low-entropy passwords.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of the public id inside a credential.
pub const ID_LEN: usize = 10;
/// Length of the secret part: 32 base62 characters, about 190 bits.
pub const SECRET_LEN: usize = 32;

/// The kind of a credential, which fixes its textual prefix and the hash domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ApiToken,
    StreamKey,
    Session,
    Operator,
    PasswordReset,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::ApiToken => "inlet",
            Kind::StreamKey => "sk",
            Kind::Session => "ses",
            Kind::Operator => "iop",
            Kind::PasswordReset => "rst",
        }
    }
}

/// A freshly generated credential: `full` is shown once, `hash` is stored.
pub struct Issued {
    pub id: String,
    pub full: String,
    pub hash: Vec<u8>,
}

/// Random base62 text from the operating system's CSPRNG.
pub fn random_text(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Generates a new credential of the given kind.
pub fn issue(kind: Kind) -> Issued {
    let id = random_text(ID_LEN);
    let secret = random_text(SECRET_LEN);
    let full = format!("{}_{}_{}", kind.prefix(), id, secret);
    let hash = hash_secret(kind, &secret);
    Issued { id, full, hash }
}

/// The public prefix of a credential, e.g. `sk_AbCdEfGhIj`.
pub fn prefix(kind: Kind, id: &str) -> String {
    format!("{}_{}", kind.prefix(), id)
}

/// Splits `prefix_<id>_<secret>` into (id, secret). Returns `None` for anything malformed.
pub fn parse(kind: Kind, presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(kind.prefix())?.strip_prefix('_')?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_LEN
        && secret.len() == SECRET_LEN
        && id
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_alphanumeric());
    well_formed.then_some((id, secret))
}

/// Domain-separated SHA-256 of a secret.
pub fn hash_secret(kind: Kind, secret: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"inlet-credential-v1\0");
    h.update(kind.prefix().as_bytes());
    h.update(b"\0");
    h.update(secret.as_bytes());
    h.finalize().to_vec()
}

/// Replaces the secret of every stream-key-shaped run in `text` (`sk_<id>_<secret…>`) with `…`, so
/// text an encoder sent (an app path with a key typed into it) can be stored, logged and echoed.
pub fn redact_stream_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sk_") {
        out.push_str(&rest[..at]);
        let cand = &rest[at + 3..];
        let id_len = cand.bytes().take_while(u8::is_ascii_alphanumeric).count();
        let after_id = &cand[id_len..];
        let secret_len = after_id
            .strip_prefix('_')
            .map(|s| s.bytes().take_while(u8::is_ascii_alphanumeric).count())
            .unwrap_or(0);
        if id_len == ID_LEN && secret_len > 0 {
            out.push_str("sk_");
            out.push_str(&cand[..id_len]);
            out.push_str("_…");
            rest = &after_id[1 + secret_len..];
        } else {
            out.push_str("sk_");
            rest = cand;
        }
    }
    out.push_str(rest);
    out
}

/// Constant-time check of a presented secret against a stored hash.
pub fn verify(kind: Kind, secret: &str, stored_hash: &[u8]) -> bool {
    hash_secret(kind, secret).ct_eq(stored_hash).into()
}

/// Constant-time equality of two strings (for configured shared secrets).
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    let (ha, hb) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    ha.ct_eq(&hb).into()
}

/// The CSRF token of a dashboard session, derived from the session secret so it needs no storage
/// and does not reveal the secret.
pub fn csrf_token(session_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"inlet-csrf-v1\0");
    h.update(session_secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a generated operator token (hex of its hash).
pub fn operator_hash_hex(token: &str) -> String {
    hash_secret(Kind::Operator, token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_credential_parses_back_and_verifies() {
        let issued = issue(Kind::StreamKey);
        let (id, secret) = parse(Kind::StreamKey, &issued.full).expect("parses");
        assert_eq!(id, issued.id);
        assert!(verify(Kind::StreamKey, secret, &issued.hash));
        assert!(
            !verify(Kind::ApiToken, secret, &issued.hash),
            "hash domains differ"
        );
    }

    #[test]
    fn malformed_credentials_are_rejected() {
        let issued = issue(Kind::ApiToken);
        assert!(parse(Kind::StreamKey, &issued.full).is_none());
        assert!(parse(Kind::ApiToken, "inlet_short_secret").is_none());
        assert!(parse(Kind::ApiToken, &format!("{}x", issued.full)).is_none());
        assert!(parse(Kind::ApiToken, "").is_none());
        assert!(parse(Kind::ApiToken, "inlet_ÄÄÄÄÄ_ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ").is_none());
    }

    #[test]
    fn stream_keys_are_redacted_anywhere_in_text() {
        let k = issue(Kind::StreamKey);
        let secret = k.full.rsplit('_').next().expect("secret");
        for text in [
            k.full.clone(),
            format!("live/{}", k.full),
            format!("{}x/extra", k.full),
            format!("a{}?t=1", k.full),
        ] {
            let r = redact_stream_keys(&text);
            assert!(!r.contains(secret), "{r}");
            assert!(r.contains(&format!("sk_{}_…", k.id)), "{r}");
        }
        assert_eq!(
            redact_stream_keys("sk_short_x and sk_"),
            "sk_short_x and sk_"
        );
    }

    #[test]
    fn secrets_are_unique_and_long() {
        let a = issue(Kind::StreamKey);
        let b = issue(Kind::StreamKey);
        assert_ne!(a.full, b.full);
        assert_eq!(a.full.len(), "sk_".len() + ID_LEN + 1 + SECRET_LEN);
    }
}
