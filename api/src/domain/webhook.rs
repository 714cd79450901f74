//! Webhook rules that know neither HTTP handlers nor SQL (docs/webhooks.md): the secret format,
//! Standard Webhooks and `Inlet-Signature` signing, which destination addresses are refused (no
//! server-side request forgery), URL checks at creation, and the retry schedule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of webhook secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret.
pub const SECRET_BYTES: usize = 32;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Longest description accepted, characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// Longest grace of a secret rotation.
pub const MAX_ROTATION_GRACE_SECS: i64 = 7 * 86_400;
/// Default grace of a secret rotation.
pub const DEFAULT_ROTATION_GRACE_SECS: i64 = 86_400;
/// Most stream ids one endpoint may filter on.
pub const MAX_STREAM_FILTER: usize = 1000;
/// Largest body sent.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most of a response read.
pub const MAX_RESPONSE_READ: usize = 64 * 1024;
/// Most of a response stored in the deliveries log and answered by the test call.
pub const MAX_RESPONSE_STORED: usize = 4 * 1024;

/// A new secret: `whsec_<base64 of 32 random bytes>`.
pub fn generate_secret() -> String {
    let mut raw = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut raw);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(raw))
}

/// The key bytes of a secret for Standard Webhooks: the base64 after `whsec_`.
fn standard_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The signature headers of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    /// `webhook-signature`: `v1,<base64>` per secret, space-separated.
    pub standard: String,
    /// `Inlet-Signature`: `t=<timestamp>,v1=<hex>[,v1=<hex>]`.
    pub inlet: String,
}

/// Signs `body` of message `id` at `timestamp` with every valid secret (the current one first).
/// Standard Webhooks: HMAC-SHA256 over `<id>.<timestamp>.<body>` keyed with the secret's decoded
/// bytes. `Inlet-Signature` (the Stripe and Mux scheme): HMAC-SHA256 over `<timestamp>.<body>` keyed
/// with the whole secret text, as those verifiers take it.
pub fn sign(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> Signatures {
    let ts = timestamp.to_string();
    let mut standard = Vec::new();
    let mut inlet = vec![format!("t={ts}")];
    for secret in secrets {
        if let Some(key) = standard_key(secret) {
            let mac = hmac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            standard.push(format!("v1,{}", STANDARD.encode(mac)));
        }
        let mac = hmac(secret.as_bytes(), &[ts.as_bytes(), b".", body]);
        inlet.push(format!(
            "v1={}",
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
    }
    Signatures {
        standard: standard.join(" "),
        inlet: inlet.join(","),
    }
}

/// Why a destination address is refused, or `None` when it is public.
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let why = if ip.is_unspecified() || o[0] == 0 {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        // 169.254.0.0/16, with the cloud metadata address 169.254.169.254.
        "link-local or cloud metadata"
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        // 100.64.0.0/10, with Alibaba's metadata address 100.100.100.200.
        "shared (carrier-grade NAT) or cloud metadata"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_broadcast() || o[0] >= 240 {
        "reserved"
    } else if (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2))
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
        || (o[0] == 192 && o[1] == 88 && o[2] == 99)
    {
        "reserved (protocol, documentation or benchmarking)"
    } else {
        return None;
    };
    Some(why)
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Forms that carry an IPv4 address are judged by it: mapped (::ffff:a.b.c.d), compatible
    // (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if s[..6] == [0; 6] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return refused_v4(v4).or(Some("IPv4-compatible (deprecated)"));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return refused_v4(v4);
    }
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return refused_v4(v4);
    }
    let why = if (s[0] & 0xfe00) == 0xfc00 {
        // fc00::/7, with AWS's metadata address fd00:ec2::254.
        "unique-local or cloud metadata"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "link-local"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "site-local (deprecated)"
    } else if ip.is_multicast() {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x2001 && s[1] == 0 {
        "Teredo"
    } else if s[0] == 0x0100 && s[1..4] == [0; 3] {
        "discard-only"
    } else {
        return None;
    };
    Some(why)
}

/// A webhook URL accepted at creation: `https://` (or `http://` when private destinations are
/// allowed), a host, no user info, no fragment; an address literal must be public unless allowed.
/// Names are resolved and checked again at every delivery.
pub fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => {
            return Err("must start with https:// (plain http:// is allowed only when the operator sets INLET_WEBHOOK_ALLOW_PRIVATE)".into());
        }
        _ => return Err("must start with https://".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not contain user info (user:password@); authenticate with the signature instead"
                .into(),
        );
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment (#...)".into());
    }
    let Some(host) = url.host() else {
        return Err("must name a host".into());
    };
    if !allow_private {
        let ip = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal") {
                    return Err(format!("names a non-public host ({d})"));
                }
                None
            }
        };
        if let Some(why) = ip.and_then(refused_address) {
            return Err(format!(
                "points to a {why} address, which webhooks may not reach"
            ));
        }
    }
    Ok(url)
}

/// Parses a retry schedule: comma-separated durations with a unit (`5s`, `5m`, `2h`).
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (num, unit) = p.split_at(p.len().saturating_sub(1));
            let n: u64 = num
                .parse()
                .map_err(|_| format!("{p:?} is not a duration like 5s, 5m or 2h"))?;
            let secs = match unit {
                "s" => n,
                "m" => n * 60,
                "h" => n * 3600,
                _ => return Err(format!("{p:?} has no unit (s, m or h)")),
            };
            Ok(Duration::from_secs(secs))
        })
        .collect()
}

/// `d` with ±20 % jitter from `unit` in [0, 1).
pub fn jittered(d: Duration, unit: f64) -> Duration {
    d.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_addresses_cover_the_ssrf_table() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(refused_address(ip).is_some(), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(refused_address(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn urls_are_checked_at_creation() {
        assert!(check_url("https://hooks.example.com/inlet", false).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://user:pw@hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:127.0.0.1]/x",
            "https://localhost:8443/x",
            "ftp://hooks.example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} must be refused");
        }
        assert!(check_url("http://127.0.0.1:9000/x", true).is_ok());
        assert!(check_url("http://u:p@127.0.0.1:9000/x", true).is_err());
    }

    #[test]
    fn schedule_parses_units_and_rejects_garbage() {
        assert_eq!(
            parse_schedule("5s, 5m,2h").expect("schedule"),
            vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200)
            ]
        );
        assert!(parse_schedule("5").is_err());
        assert!(parse_schedule("xs").is_err());
    }

    #[test]
    fn signatures_carry_one_entry_per_secret() {
        let a = generate_secret();
        let b = generate_secret();
        let one = sign(&[&a], "evt_1", 1_700_000_000, b"{}");
        assert!(one.standard.starts_with("v1,") && !one.standard.contains(' '));
        assert!(one.inlet.starts_with("t=1700000000,v1="));
        let two = sign(&[&a, &b], "evt_1", 1_700_000_000, b"{}");
        assert_eq!(two.standard.split(' ').count(), 2);
        assert_eq!(two.inlet.matches("v1=").count(), 2);
        assert!(two.standard.starts_with(&one.standard));
    }
}
