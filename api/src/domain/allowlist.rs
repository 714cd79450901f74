//! IP allowlist matching: IPv4 and IPv6 CIDRs; IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) match
//! IPv4 rules. An empty list admits every address.

use std::net::IpAddr;

use ipnet::IpNet;

/// Whether `net` contains `ip`, treating IPv4-mapped IPv6 addresses as IPv4.
pub fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    canonical_net(*net).contains(&ip.to_canonical())
}

/// An IPv4-mapped IPv6 network (`::ffff:a.b.c.d/n`, n ≥ 96) as the IPv4 network it denotes, so rules
/// and addresses meet in one family.
pub fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Ok(n) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(n);
    }
    net
}

/// Whether a normalised list (as stored) admits `ip`. Unparseable entries admit nothing.
pub fn admits(list: &[String], ip: IpAddr) -> bool {
    list.is_empty()
        || list
            .iter()
            .filter_map(|e| e.parse::<IpNet>().ok())
            .any(|net| net_contains(&net, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_rules() {
        let list = vec!["203.0.113.0/24".to_string(), "2001:db8::/32".to_string()];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(admits(&[], ip("1.2.3.4")));
        assert!(admits(&list, ip("203.0.113.9")));
        assert!(
            admits(&list, ip("::ffff:203.0.113.9")),
            "IPv4-mapped IPv6 matches IPv4 rules"
        );
        assert!(admits(&list, ip("2001:db8:1::5")));
        assert!(!admits(&list, ip("203.0.114.1")));
        assert!(!admits(&list, ip("2001:db9::1")));
        let mapped = vec!["::ffff:203.0.113.0/120".to_string()];
        assert!(
            admits(&mapped, ip("203.0.113.9")),
            "IPv4-mapped rules match IPv4 addresses"
        );
        assert_eq!(
            canonical_net("::ffff:203.0.113.0/120".parse().expect("net")).to_string(),
            "203.0.113.0/24"
        );
    }
}
