//! Publish tokens (docs/api.md, "Publish tokens"): JWTs signed with Ed25519 (`alg: EdDSA`), claims
//! `aud: "inlet-publish"`, `sub` (stream id), `tid` (tenant id), `exp`, `nbf`, `iat`, `jti`,
//! optional `ip` (CIDR binding) and `single_use`. Owns minting, parsing and verification; knows
//! nothing of where keys live. Signing and verification are the `jsonwebtoken` crate's, with a
//! `Validation` that admits EdDSA only (docs/decisions.md, "Publish tokens on jsonwebtoken").
//!
//! The header is read first (before any key is looked up) so that `alg: none`, HMAC algorithms
//! (the "public key as HMAC secret" confusion), any other algorithm and critical extensions are
//! refused with a sentence naming them; the verifying key comes from the `kid` lookup, never from
//! the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding,
};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};

/// Installs jsonwebtoken's crypto backend (RustCrypto) for this process. Idempotent; every binary
/// calls it at start, and so does `ApiContext::new` (tests).
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// The audience every publish token must name.
pub const AUDIENCE: &str = "inlet-publish";
/// Clock skew tolerated on `exp` and `nbf`, seconds.
pub const CLOCK_SKEW_SECS: i64 = 30;
/// Longest token accepted, bytes.
pub const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub aud: String,
    pub sub: String,
    pub tid: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iat: i64,
    pub jti: String,
    /// CIDR (or address) the publisher must connect from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_use: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

/// Why a token was refused, mapped to reason codes (docs/troubleshooting.md) by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, wrong algorithm, unknown key, bad signature, wrong
    /// audience/stream/tenant/address.
    Invalid(String),
    /// `exp` is past (beyond the skew).
    Expired(String),
    /// `nbf` is in the future (beyond the skew): reported as invalid with its own sentence.
    NotYetValid(String),
}

/// A key pair for minting.
pub struct KeyPair {
    pub signing: SigningKey,
}

impl KeyPair {
    pub fn generate() -> KeyPair {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
        KeyPair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn from_seed(seed: &[u8]) -> Option<KeyPair> {
        let seed: [u8; 32] = seed.try_into().ok()?;
        Some(KeyPair {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public_raw(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// PKCS#8 v1 PEM of the private key (seed only), the form OpenSSL, Python `cryptography`/PyJWT,
    /// Node `crypto` and `jose` load.
    pub fn private_pem(&self) -> anyhow::Result<String> {
        let bytes = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.signing.to_bytes(),
            public_key: None,
        };
        Ok(bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("pkcs8: {e}"))?
            .to_string())
    }

    /// SPKI PEM of the public key.
    pub fn public_pem(&self) -> anyhow::Result<String> {
        self.signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("spki: {e}"))
    }

    pub fn from_private_pem(pem: &str) -> Option<KeyPair> {
        SigningKey::from_pkcs8_pem(pem)
            .ok()
            .map(|signing| KeyPair { signing })
    }
}

/// Mints a token signed by `key` under `kid`.
pub fn mint(kid: &str, key: &KeyPair, claims: &Claims) -> anyhow::Result<String> {
    install_crypto_provider();
    let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    header.typ = Some("JWT".into());
    let der = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.signing.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_der()
    .map_err(|e| anyhow::anyhow!("pkcs8: {e}"))?;
    Ok(jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_der(der.as_bytes()),
    )?)
}

/// A structurally valid EdDSA token whose signature has not been checked yet.
pub struct Unverified<'a> {
    pub kid: String,
    token: &'a str,
    payload: Vec<u8>,
}

fn invalid(msg: &str) -> Refusal {
    Refusal::Invalid(msg.to_string())
}

/// Parses the compact form and checks the header. Nothing here is trusted yet.
pub fn parse(token: &str) -> Result<Unverified<'_>, Refusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("the publish token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(
            "the publish token is not a JWT (three dot-separated parts)",
        ));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the publish token's header is malformed"))?;
    if header.alg != "EdDSA" {
        return Err(Refusal::Invalid(format!(
            "the publish token uses alg {:?}; only EdDSA (Ed25519) is accepted",
            header.alg
        )));
    }
    if header.crit.is_some() {
        return Err(invalid("the publish token has critical header extensions"));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty() && k.len() <= 64)
        .ok_or_else(|| invalid("the publish token has no kid"))?;
    let payload = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| invalid("the publish token's payload is malformed"))?;
    if URL_SAFE_NO_PAD.decode(s).map(|b| b.len()) != Ok(64) {
        return Err(invalid("the publish token's signature is malformed"));
    }
    Ok(Unverified {
        kid,
        token,
        payload,
    })
}

/// What jsonwebtoken checks: EdDSA only, the audience, `exp` and `nbf` with the skew, and the
/// presence of `exp`, `aud` and `sub`.
fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.algorithms = vec![Algorithm::EdDSA];
    v.leeway = CLOCK_SKEW_SECS as u64;
    v.validate_nbf = true;
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    v
}

impl Unverified<'_> {
    /// The claims before verification: only to find which stream (and so which tenant's keys) the
    /// token is about. Nothing read here is trusted until `verify` succeeds.
    pub fn peek_claims(&self) -> Option<Claims> {
        serde_json::from_slice(&self.payload).ok()
    }

    /// Verifies the signature with the key the `kid` named and the time window and audience
    /// (jsonwebtoken's `Validation`), then answers the claims.
    pub fn verify(self, public_raw: &[u8]) -> Result<Claims, Refusal> {
        if public_raw.len() != 32 {
            return Err(invalid("the signing key is unusable"));
        }
        install_crypto_provider();
        let peeked = self.peek_claims();
        let now = chrono::Utc::now().timestamp();
        match jsonwebtoken::decode::<Claims>(
            self.token,
            &DecodingKey::from_ed_der(public_raw),
            &validation(),
        ) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => Refusal::Expired(match peeked {
                    Some(c) => format!(
                        "the publish token expired {} s ago; mint a new one",
                        now - c.exp
                    ),
                    None => "the publish token expired; mint a new one".into(),
                }),
                ErrorKind::ImmatureSignature => {
                    Refusal::NotYetValid(match peeked.and_then(|c| c.nbf) {
                        Some(nbf) => format!(
                            "the publish token is not valid for another {} s (nbf)",
                            nbf - now
                        ),
                        None => "the publish token is not valid yet (nbf)".into(),
                    })
                }
                ErrorKind::InvalidAudience => {
                    Refusal::Invalid(format!("the publish token's audience is not {AUDIENCE:?}"))
                }
                ErrorKind::InvalidSignature | ErrorKind::InvalidEddsaKey => {
                    invalid("the publish token's signature does not verify (tampered or wrong key)")
                }
                ErrorKind::MissingRequiredClaim(c) => Refusal::Invalid(format!(
                    "the publish token's claims are malformed: {c} is missing"
                )),
                _ => Refusal::Invalid(format!("the publish token's claims are malformed: {e}")),
            }),
        }
    }
}

/// What a token must match besides its signature.
pub struct Expect<'a> {
    pub stream_id: &'a str,
    pub tenant_id: &'a str,
    pub client_ip: std::net::IpAddr,
    pub now: i64,
}

/// Checks audience, subject, tenant, time window and address binding.
pub fn check(claims: &Claims, expect: &Expect<'_>) -> Result<(), Refusal> {
    if claims.aud != AUDIENCE {
        return Err(Refusal::Invalid(format!(
            "the publish token's audience is {:?}, not {AUDIENCE:?}",
            claims.aud
        )));
    }
    if claims.sub != expect.stream_id {
        return Err(invalid("the publish token was issued for another stream"));
    }
    if claims.tid != expect.tenant_id {
        return Err(invalid("the publish token was issued for another tenant"));
    }
    if claims.jti.is_empty() || claims.jti.len() > 128 {
        return Err(invalid("the publish token has no usable jti"));
    }
    if expect.now > claims.exp + CLOCK_SKEW_SECS {
        return Err(Refusal::Expired(format!(
            "the publish token expired {} s ago; mint a new one",
            expect.now - claims.exp
        )));
    }
    if let Some(nbf) = claims.nbf
        && nbf > expect.now + CLOCK_SKEW_SECS
    {
        return Err(Refusal::NotYetValid(format!(
            "the publish token is not valid for another {} s (nbf)",
            nbf - expect.now
        )));
    }
    if let Some(binding) = &claims.ip {
        let net = binding
            .parse::<ipnet::IpNet>()
            .or_else(|_| binding.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| invalid("the publish token's ip binding is not an address or CIDR"))?;
        if !crate::domain::allowlist::net_contains(&net, expect.client_ip) {
            return Err(Refusal::Invalid(format!(
                "the publish token is bound to {binding}; this publisher connects from {}",
                expect.client_ip
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            aud: AUDIENCE.into(),
            sub: "s1".into(),
            tid: "t1".into(),
            exp: now + 600,
            nbf: Some(now),
            iat: now,
            jti: "j1".into(),
            ip: None,
            single_use: None,
        }
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            stream_id: "s1",
            tenant_id: "t1",
            client_ip: "10.1.2.3".parse().expect("ip"),
            now,
        }
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
    }

    #[test]
    fn minted_token_verifies_and_checks() {
        let k = KeyPair::generate();
        let now = chrono::Utc::now().timestamp();
        let t = mint("kid1", &k, &claims(now)).expect("mint");
        let u = parse(&t).expect("parse");
        assert_eq!(u.kid, "kid1");
        let c = u.verify(&k.public_raw()).expect("verify");
        assert_eq!(check(&c, &expect(now)), Ok(()));
        // Skew: 30 s past exp is still fine, 31 s is not.
        assert_eq!(check(&c, &expect(now + 630)), Ok(()));
        assert!(matches!(
            check(&c, &expect(now + 631)),
            Err(Refusal::Expired(_))
        ));
        // jsonwebtoken's Validation refuses the expired and the not-yet-valid.
        let mut old = claims(now - 700);
        old.nbf = None;
        let t = mint("kid1", &k, &old).expect("mint");
        assert!(matches!(
            parse(&t).expect("parse").verify(&k.public_raw()),
            Err(Refusal::Expired(_))
        ));
        let mut early = claims(now);
        early.nbf = Some(now + 120);
        let t = mint("kid1", &k, &early).expect("mint");
        assert!(matches!(
            parse(&t).expect("parse").verify(&k.public_raw()),
            Err(Refusal::NotYetValid(_))
        ));
        let mut aud = claims(now);
        aud.aud = "other".into();
        let t = mint("kid1", &k, &aud).expect("mint");
        assert!(
            matches!(parse(&t).expect("parse").verify(&k.public_raw()), Err(Refusal::Invalid(m)) if m.contains("audience"))
        );
    }

    #[test]
    fn attacks_are_refused() {
        let k = KeyPair::generate();
        let now = 1000;
        let good = mint("kid1", &k, &claims(now)).expect("mint");
        let parts: Vec<&str> = good.split('.').collect();

        // alg: none with no signature.
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "kid": "kid1"})),
            parts[1]
        );
        assert!(parse(&none).is_err());
        // HS256 "signed" with the public key as HMAC secret: refused on the header alone.
        let hs = format!(
            "{}.{}.{}",
            b64(&serde_json::json!({"alg": "HS256", "kid": "kid1"})),
            parts[1],
            parts[2]
        );
        assert!(matches!(parse(&hs), Err(Refusal::Invalid(m)) if m.contains("HS256")));
        // Modified payload with the original signature.
        let mut c = claims(now);
        c.sub = "other-stream".into();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_value(&c).expect("v")),
            parts[2]
        );
        assert!(
            parse(&tampered)
                .expect("parses")
                .verify(&k.public_raw())
                .is_err()
        );
        // Signed by another key.
        let other = KeyPair::generate();
        assert!(
            parse(&good)
                .expect("parses")
                .verify(&other.public_raw())
                .is_err()
        );
        // Garbage.
        for junk in ["", "a.b", "a.b.c.d", "....", &"x".repeat(5000)] {
            assert!(parse(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn claims_must_match_stream_tenant_audience_and_address() {
        let now = 1000;
        let mut c = claims(now);
        c.sub = "s2".into();
        assert!(check(&c, &expect(now)).is_err());
        let mut c = claims(now);
        c.tid = "t2".into();
        assert!(check(&c, &expect(now)).is_err());
        let mut c = claims(now);
        c.aud = "other".into();
        assert!(check(&c, &expect(now)).is_err());
        let mut c = claims(now);
        c.nbf = Some(now + 31);
        assert!(matches!(
            check(&c, &expect(now)),
            Err(Refusal::NotYetValid(_))
        ));
        let mut c = claims(now);
        c.ip = Some("10.0.0.0/8".into());
        assert_eq!(check(&c, &expect(now)), Ok(()));
        c.ip = Some("192.168.0.0/16".into());
        assert!(check(&c, &expect(now)).is_err());
    }

    #[test]
    fn private_pem_round_trips() {
        let k = KeyPair::generate();
        let pem = k.private_pem().expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = KeyPair::from_private_pem(&pem).expect("parse");
        assert_eq!(back.public_raw(), k.public_raw());
        // PKCS#8 v1 (RFC 8410's 48-byte form): what OpenSSL, PyJWT and jose accept; v2 is refused there.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64");
        assert_eq!(der.len(), 48);
    }
}
