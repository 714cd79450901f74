//! The RTMP handshake, server side: C0/C1 → S0/S1/S2, then C2. Both the simple handshake (S2 echoes
//! C1) and the digest ("complex", Flash Player 9) handshake, where C1 carries an HMAC-SHA256 digest and
//! the server answers with digests of its own, are served; which one is decided by whether C1
//! carries a valid digest.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Size of C1/C2/S1/S2.
pub const PACKET_LEN: usize = 1536;
/// The only RTMP version (plain RTMP; 6 would be RTMPE, which we do not serve).
pub const VERSION: u8 = 3;

const DIGEST_LEN: usize = 32;
/// "Genuine Adobe Flash Player 001" followed by the protocol's fixed 32-byte tail.
const PLAYER_KEY: [u8; 62] = *b"Genuine Adobe Flash Player 001\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// "Genuine Adobe Flash Media Server 001" followed by the same tail.
const SERVER_KEY: [u8; 68] = *b"Genuine Adobe Flash Media Server 001\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// C0 named a version other than 3 (e.g. RTMPE, or not RTMP at all: TLS or HTTP on the RTMP port).
    BadVersion(u8),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::BadVersion(0x16) => {
                write!(
                    f,
                    "a TLS ClientHello arrived on the plain RTMP port (rtmps:// sent to an rtmp:// port)"
                )
            }
            HandshakeError::BadVersion(v) => {
                write!(f, "handshake version byte 0x{v:02x} is not RTMP (0x03)")
            }
        }
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Where the digest sits in a 1536-byte packet for the digest block starting at `block`
/// (8 for scheme 1, 772 for scheme 0).
fn digest_pos(packet: &[u8], block: usize) -> usize {
    let sum: usize = packet[block..block + 4]
        .iter()
        .map(|b| usize::from(*b))
        .sum();
    sum % 728 + block + 4
}

fn digest_of(packet: &[u8], pos: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac(key, &[&packet[..pos], &packet[pos + DIGEST_LEN..]])
}

/// The client's digest, when C1 carries a valid one in either scheme.
fn client_digest(c1: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    for block in [772, 8] {
        let pos = digest_pos(c1, block);
        let want = digest_of(c1, pos, &PLAYER_KEY[..30]);
        if c1[pos..pos + DIGEST_LEN] == want {
            return Some(want);
        }
    }
    None
}

/// S0 + S1 + S2 for a C1.
pub fn respond(c1: &[u8; PACKET_LEN]) -> Vec<u8> {
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity(1 + 2 * PACKET_LEN);
    out.push(VERSION);
    let mut s1 = [0u8; PACKET_LEN];
    rng.fill_bytes(&mut s1[8..]);
    s1[..4].fill(0);
    match client_digest(c1) {
        None => {
            // Simple handshake: zero version field, S2 echoes C1.
            s1[4..8].fill(0);
            out.extend_from_slice(&s1);
            out.extend_from_slice(c1);
        }
        Some(digest) => {
            s1[4..8].copy_from_slice(&[0x0D, 0x0E, 0x0A, 0x0D]);
            let pos = digest_pos(&s1, 8);
            let d = digest_of(&s1, pos, &SERVER_KEY[..36]);
            s1[pos..pos + DIGEST_LEN].copy_from_slice(&d);
            out.extend_from_slice(&s1);
            let mut s2 = [0u8; PACKET_LEN];
            rng.fill_bytes(&mut s2);
            let key = hmac(&SERVER_KEY, &[&digest]);
            let sig = hmac(&key, &[&s2[..PACKET_LEN - DIGEST_LEN]]);
            s2[PACKET_LEN - DIGEST_LEN..].copy_from_slice(&sig);
            out.extend_from_slice(&s2);
        }
    }
    out
}

/// Checks C0.
pub fn check_version(c0: u8) -> Result<(), HandshakeError> {
    if c0 == VERSION {
        Ok(())
    } else {
        Err(HandshakeError::BadVersion(c0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A C1 as a Flash-Player-style client makes it (digest in the scheme-1 block at 8).
    fn digest_c1() -> [u8; PACKET_LEN] {
        let mut c1 = [7u8; PACKET_LEN];
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        let pos = digest_pos(&c1, 8);
        let d = digest_of(&c1, pos, &PLAYER_KEY[..30]);
        c1[pos..pos + DIGEST_LEN].copy_from_slice(&d);
        c1
    }

    #[test]
    fn simple_handshake_echoes_c1() {
        let c1 = [5u8; PACKET_LEN];
        let out = respond(&c1);
        assert_eq!(out.len(), 1 + 2 * PACKET_LEN);
        assert_eq!(out[0], 3);
        assert_eq!(&out[1 + PACKET_LEN..], &c1[..]);
    }

    #[test]
    fn digest_handshake_answers_verifiable_digests() {
        let c1 = digest_c1();
        let out = respond(&c1);
        let s1 = &out[1..1 + PACKET_LEN];
        let s2 = &out[1 + PACKET_LEN..];
        // S1's digest verifies with the server key, as a validating client checks it.
        let pos = digest_pos(s1, 8);
        assert_eq!(
            s1[pos..pos + DIGEST_LEN],
            digest_of(s1, pos, &SERVER_KEY[..36])
        );
        // S2's signature is keyed by the client's digest.
        let cd = client_digest(&c1).expect("client digest");
        let key = hmac(&SERVER_KEY, &[&cd]);
        assert_eq!(
            s2[PACKET_LEN - DIGEST_LEN..],
            hmac(&key, &[&s2[..PACKET_LEN - DIGEST_LEN]])
        );
    }

    #[test]
    fn version_byte_is_checked() {
        assert!(check_version(3).is_ok());
        assert!(check_version(6).is_err());
        assert!(
            check_version(0x16)
                .expect_err("tls")
                .to_string()
                .contains("TLS")
        );
    }
}
