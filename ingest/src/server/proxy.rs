//! The PROXY protocol (HAProxy's, v1 text and v2 binary) in front of RTMP and RTMPS: a load balancer
//! in `INLET_PROXY_PROTOCOL_FROM` starts each connection with a header naming the real client, which
//! then stands for the client everywhere the socket's peer would (authorize's `client_ip`, the
//! per-address connection limit, logs). Headers are parsed by the `ppp` crate; this module decides
//! whom to believe, bounds what is read, and gives the bytes read past the header back to the
//! RTMP or TLS layer ([`Prefixed`]).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use ipnet::IpNet;
use ppp::PartialResult;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::connection::{Closed, closed};

/// The start of a v1 header.
const V1_SIGNATURE: &[u8] = b"PROXY ";
/// The longest v1 header, CRLF included (the protocol's limit).
const V1_MAX: usize = 107;
/// The start of a v2 header (12 bytes).
const V2_SIGNATURE: &[u8] = ppp::v2::PROTOCOL_PREFIX;
/// The fixed part of a v2 header: the signature, version and command, family, length.
const V2_FIXED: usize = 16;
/// The largest header accepted, bytes: a v1 header is at most 107; a v2 header's TLVs (a
/// balancer's connection id, TLS details, a cloud's endpoint id) come to a few hundred at most.
pub const MAX_HEADER: usize = 4096;

/// The addresses whose PROXY headers are believed (`INLET_PROXY_PROTOCOL_FROM`): CIDRs or single
/// addresses, comma-separated; empty turns the PROXY protocol off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxySources(pub Vec<IpNet>);

impl std::str::FromStr for ProxySources {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut nets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = match part.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match part.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip.to_canonical()),
                    Err(_) => {
                        return Err(format!(
                            "{part:?} is neither an address nor a CIDR (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)"
                        ));
                    }
                },
            };
            nets.push(net);
        }
        Ok(ProxySources(nets))
    }
}

impl std::fmt::Display for ProxySources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&list.join(","))
    }
}

impl ProxySources {
    /// Whether connections from `ip` must start with a PROXY header (an IPv4 client seen on an IPv6
    /// socket, `::ffff:a.b.c.d`, is matched as IPv4).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a complete header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `1` or `2`.
    pub version: u8,
    /// The client the balancer names; `None` for `PROXY UNKNOWN`, v2 `LOCAL` (the balancer's own
    /// health checks) and address families without an IP (AF_UNIX, unspecified): the connection
    /// then keeps the balancer's address.
    pub client: Option<SocketAddr>,
    /// The header's length in bytes.
    pub len: usize,
}

/// How far the bytes at the start of a connection go as a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A header, possibly followed by what comes after it.
    Complete(Header),
    /// The start of a header; more bytes are needed.
    Incomplete,
    /// Not a PROXY header at all (RTMP starts with 0x03, TLS with 0x16).
    Missing,
    /// The start of a header that is not a valid one.
    Invalid(String),
}

/// Whether `buf` agrees with `signature` as far as both go.
fn agrees(buf: &[u8], signature: &[u8]) -> bool {
    let n = buf.len().min(signature.len());
    n > 0 && buf[..n] == signature[..n]
}

/// Whether the first bytes of a connection are (the start of) a PROXY header, v1 or v2.
pub fn looks_like_header(buf: &[u8]) -> bool {
    agrees(buf, V1_SIGNATURE) || agrees(buf, V2_SIGNATURE)
}

/// Parses the PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if agrees(buf, V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if agrees(buf, V1_SIGNATURE) {
        return parse_v1(buf);
    }
    Parsed::Missing
}

fn parse_v1(buf: &[u8]) -> Parsed {
    use ppp::v1::Addresses;
    // The line is judged once it is whole (the parser takes some cut lines, e.g. one ending in the
    // space before the destination port, for invalid ones), or once it is longer than allowed.
    if !buf.iter().any(|&b| b == b'\r' || b == b'\n') && buf.len() < V1_MAX {
        return Parsed::Incomplete;
    }
    match ppp::v1::Header::try_from(buf) {
        Ok(h) => {
            let client = match h.addresses {
                Addresses::Tcp4(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                Addresses::Tcp6(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                Addresses::Unknown => None,
            };
            Parsed::Complete(Header {
                version: 1,
                client,
                len: h.header.len(),
            })
        }
        Err(e) if e.is_incomplete() => Parsed::Incomplete,
        Err(e) => Parsed::Invalid(format!("v1: {e}")),
    }
}

fn parse_v2(buf: &[u8]) -> Parsed {
    use ppp::v2::{Addresses, Command, ParseError};
    match ppp::v2::Header::try_from(buf) {
        Ok(h) if h.len() > MAX_HEADER => Parsed::Invalid(too_long(h.len())),
        Ok(h) => {
            let client = match (h.command, h.addresses) {
                (Command::Local, _) => None,
                (Command::Proxy, Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                (Command::Proxy, Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                (Command::Proxy, Addresses::Unspecified | Addresses::Unix(_)) => None,
            };
            Parsed::Complete(Header {
                version: 2,
                client,
                len: h.len(),
            })
        }
        // A header announcing more than is accepted is refused before its bytes are awaited.
        Err(ParseError::Partial(_, length)) if V2_FIXED + length > MAX_HEADER => {
            Parsed::Invalid(too_long(V2_FIXED + length))
        }
        Err(e) if e.is_incomplete() => Parsed::Incomplete,
        Err(e) => Parsed::Invalid(format!("v2: {e}")),
    }
}

fn too_long(len: usize) -> String {
    format!("a {len}-byte header, more than the {MAX_HEADER} bytes accepted")
}

/// Reads the PROXY header a trusted balancer must send first, until `deadline`. Returns the header
/// and whatever arrived after it (the start of the RTMP or TLS handshake), or why the connection
/// closes (`proxy_header_missing`, `proxy_header_invalid`, `peer_closed`, `network_error`).
pub async fn read_header(
    tcp: &mut TcpStream,
    deadline: tokio::time::Instant,
) -> Result<(Header, Vec<u8>), Closed> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        match parse(&buf) {
            Parsed::Complete(h) => {
                let rest = buf.split_off(h.len);
                return Ok((h, rest));
            }
            Parsed::Missing => {
                return Err(closed(
                    "proxy_header_missing",
                    format!(
                        "the connection does not start with a PROXY header (first byte 0x{:02x})",
                        buf[0]
                    ),
                ));
            }
            Parsed::Invalid(why) => return Err(closed("proxy_header_invalid", why)),
            Parsed::Incomplete if buf.len() >= MAX_HEADER => {
                return Err(closed("proxy_header_invalid", too_long(buf.len())));
            }
            Parsed::Incomplete => {}
        }
        let want = chunk.len().min(MAX_HEADER - buf.len());
        match tokio::time::timeout_at(deadline, tcp.read(&mut chunk[..want])).await {
            Err(_) if buf.is_empty() => {
                return Err(closed(
                    "proxy_header_missing",
                    "no PROXY header in time (INLET_RTMP_HANDSHAKE_TIMEOUT_SECS)",
                ));
            }
            Err(_) => {
                return Err(closed(
                    "proxy_header_invalid",
                    format!(
                        "an incomplete PROXY header ({} bytes) in time (INLET_RTMP_HANDSHAKE_TIMEOUT_SECS)",
                        buf.len()
                    ),
                ));
            }
            // A TCP health check connects and closes without a byte.
            Ok(Ok(0)) if buf.is_empty() => {
                return Err(closed("peer_closed", "closed before sending anything"));
            }
            Ok(Ok(0)) => {
                return Err(closed(
                    "proxy_header_invalid",
                    format!("closed within the PROXY header ({} bytes)", buf.len()),
                ));
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            // Some health checks close with a reset.
            Ok(Err(e)) if buf.is_empty() => {
                return Err(closed(
                    "peer_closed",
                    format!("closed before sending anything ({e})"),
                ));
            }
            Ok(Err(e)) => return Err(closed("network_error", e.to_string())),
        }
    }
}

/// Whether a connection that must not carry a PROXY header starts with one, looking (not reading)
/// at its first bytes once they arrive, until `deadline`. `Ok(false)` for anything else, including
/// a close, which the RTMP or TLS layer then reports as usual.
pub async fn starts_with_header(
    tcp: &TcpStream,
    deadline: tokio::time::Instant,
) -> Result<bool, Closed> {
    let mut first = [0u8; 12];
    match tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await {
        Err(_) => Err(closed("handshake_timeout", "no data in time")),
        Ok(Ok(n)) => Ok(looks_like_header(&first[..n])),
        Ok(Err(e)) => Err(closed("network_error", e.to_string())),
    }
}

/// A stream that yields `prefix` (bytes already read from `inner`) before reading `inner` again.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Prefixed<S> {
        Prefixed {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.at);
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Command, Protocol, Version};

    fn v2(command: Command, src: &str, dst: &str) -> Vec<u8> {
        let addrs: (SocketAddr, SocketAddr) =
            (src.parse().expect("src"), dst.parse().expect("dst"));
        Builder::with_addresses(Version::Two | command, Protocol::Stream, addrs)
            .build()
            .expect("v2 header")
    }

    fn complete(buf: &[u8]) -> Header {
        match parse(buf) {
            Parsed::Complete(h) => h,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn sources_parse_cidrs_and_single_addresses() {
        let s: ProxySources = " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,,::ffff:198.51.100.1"
            .parse()
            .expect("parse");
        assert_eq!(
            s.to_string(),
            "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,198.51.100.1/32"
        );
        assert!(s.trusts("10.1.2.3".parse().expect("ip")));
        assert!(s.trusts("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(s.trusts("198.51.100.1".parse().expect("ip")));
        assert!(s.trusts("2001:db8::5".parse().expect("ip")));
        assert!(!s.trusts("192.0.2.8".parse().expect("ip")));
        assert!(!s.trusts("11.0.0.1".parse().expect("ip")));
        // Host bits are dropped, not refused.
        let t: ProxySources = "10.1.2.3/8".parse().expect("parse");
        assert_eq!(t.to_string(), "10.0.0.0/8");
        assert!("".parse::<ProxySources>().expect("empty").is_empty());
        assert!("10.0.0.0/33".parse::<ProxySources>().is_err());
        assert!("balancer".parse::<ProxySources>().is_err());
        assert!(!ProxySources::default().trusts("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn v1_headers() {
        let h = complete(b"PROXY TCP4 203.0.113.9 10.0.0.1 51234 1935\r\n\x03rest");
        assert_eq!(h.version, 1);
        assert_eq!(h.client, Some("203.0.113.9:51234".parse().expect("addr")));
        assert_eq!(h.len, 44);
        let h = complete(b"PROXY TCP6 2001:db8::9 2001:db8::1 4000 1936\r\n");
        assert_eq!(h.client, Some("[2001:db8::9]:4000".parse().expect("addr")));
        let h = complete(b"PROXY UNKNOWN\r\n");
        assert_eq!((h.client, h.len), (None, 15));
        let h = complete(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n\x16");
        assert_eq!(h.client, None);
    }

    #[test]
    fn v2_headers() {
        let mut buf = v2(Command::Proxy, "203.0.113.9:51234", "10.0.0.1:1935");
        let len = buf.len();
        buf.extend([0x16, 0x03, 0x01]);
        let h = complete(&buf);
        assert_eq!(h.version, 2);
        assert_eq!(h.client, Some("203.0.113.9:51234".parse().expect("addr")));
        assert_eq!(h.len, len);
        let h = complete(&v2(Command::Proxy, "[2001:db8::9]:1", "[2001:db8::1]:2"));
        assert_eq!(h.client, Some("[2001:db8::9]:1".parse().expect("addr")));
        // LOCAL: the balancer's health check; its addresses are not the client's.
        let h = complete(&v2(Command::Local, "10.0.0.2:1", "10.0.0.1:2"));
        assert_eq!(h.client, None);
        // With TLVs (HAProxy's unique id, a cloud's endpoint id).
        let tlv = Builder::with_addresses(
            Version::Two | Command::Proxy,
            Protocol::Stream,
            (
                "203.0.113.9:5".parse::<SocketAddr>().expect("addr"),
                "10.0.0.1:1935".parse::<SocketAddr>().expect("addr"),
            ),
        )
        .write_tlv(ppp::v2::Type::UniqueId, b"abc")
        .expect("tlv")
        .build()
        .expect("build");
        assert_eq!(complete(&tlv).len, tlv.len());
    }

    #[test]
    fn partial_headers_ask_for_more() {
        let v1 = b"PROXY TCP4 203.0.113.9 10.0.0.1 51234 1935\r\n";
        let v2 = v2(Command::Proxy, "203.0.113.9:51234", "10.0.0.1:1935");
        for n in 1..v1.len() {
            assert_eq!(parse(&v1[..n]), Parsed::Incomplete, "v1 cut at {n}");
        }
        for n in 1..v2.len() {
            assert_eq!(parse(&v2[..n]), Parsed::Incomplete, "v2 cut at {n}");
        }
    }

    #[test]
    fn other_protocols_are_not_headers() {
        // RTMP C0, TLS ClientHello, HTTP.
        for start in [
            &[0x03u8, 0, 0, 0][..],
            &[0x16, 0x03, 0x01],
            b"GET / HTTP/1.1\r\n",
        ] {
            assert_eq!(parse(start), Parsed::Missing);
            assert!(!looks_like_header(start));
        }
        assert!(looks_like_header(b"PROXY TCP4"));
        assert!(looks_like_header(b"PRO"));
        assert!(looks_like_header(b"\r\n\r\n\0"));
        assert!(!looks_like_header(b""));
    }

    #[test]
    fn malformed_headers_are_invalid() {
        for bad in [
            &b"PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n"[..],
            b"PROXY TCP5 1.2.3.4 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 10.0.0.1 99999 2\r\n",
            b"PROXY TCP4 1.2.3.4 10.0.0.1 1 2\n",
        ] {
            assert!(
                matches!(parse(bad), Parsed::Invalid(_)),
                "{:?}: {:?}",
                String::from_utf8_lossy(bad),
                parse(bad)
            );
        }
        // A v1 line longer than the protocol allows, without its end.
        let long = [b"PROXY TCP6 ".as_slice(), &[b'1'; 120]].concat();
        assert!(matches!(parse(&long), Parsed::Invalid(_)));
        // A v2 header with version 1, and one announcing 60000 bytes of TLVs.
        let mut wrong = v2(Command::Proxy, "1.2.3.4:1", "10.0.0.1:2");
        wrong[12] = 0x11;
        assert!(matches!(parse(&wrong), Parsed::Invalid(_)));
        let mut huge = v2(Command::Proxy, "1.2.3.4:1", "10.0.0.1:2");
        huge[14..16].copy_from_slice(&60000u16.to_be_bytes());
        assert!(matches!(parse(&huge), Parsed::Invalid(e) if e.contains("60016")));
    }

    #[tokio::test]
    async fn prefixed_yields_the_prefix_then_the_stream() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"world")
            .await
            .expect("write");
        drop(a);
        let mut s = Prefixed::new(b"hello ".to_vec(), b);
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        assert_eq!(out, "hello world");
    }
}
