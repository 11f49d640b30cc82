//! Bogon addresses: private, loopback, link-local, reserved and documentation ranges that a
//! public name never legitimately resolves to.
//!
//! The ranges are those of probe-cli's `internal/netxlite/bogon.go` (which oonidata's
//! `is_ip_bogon` in `oonidata/src/oonidata/datautils.py` matches): the IANA special-purpose
//! IPv4 blocks, and for IPv6 the unspecified, loopback, IPv4-mapped and -compatible,
//! discard, ORCHID, documentation, unique-local, link-local, site-local and multicast
//! blocks plus the 6to4 and Teredo images of the IPv4 bogons.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

const V6: &[(u128, u8)] = &[
    (0, 128),                          // ::/128
    (1, 128),                          // ::1/128
    (0xffff_0000_0000, 96),            // ::ffff:0:0/96
    (0, 96),                           // ::/96
    (0x0100_0000_0000_0000 << 64, 64), // 100::/64
    (0x2001_0010 << 96, 28),           // 2001:10::/28
    (0x2001_0db8 << 96, 32),           // 2001:db8::/32
    (0xfc00 << 112, 7),                // fc00::/7
    (0xfe80 << 112, 10),               // fe80::/10
    (0xfec0 << 112, 10),               // fec0::/10
    (0xff00 << 112, 8),                // ff00::/8
];

fn v4_bogon(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    V4.iter().any(|(net, len)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
        n & mask == u32::from(Ipv4Addr::from(*net)) & mask
    })
}

fn v6_bogon(ip: Ipv6Addr) -> bool {
    let n = u128::from(ip);
    if V6.iter().any(|(net, len)| {
        let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
        n & mask == net & mask
    }) {
        return true;
    }
    let seg = ip.segments();
    // 6to4 (2002:V4ADDR::/48) and Teredo (2001:0:V4ADDR… as written in bogon.go: the
    // IPv4 bogon follows the 2001:0000 prefix) images of an IPv4 bogon.
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    (seg[0] == 0x2002 && v4_bogon(embedded(seg[1], seg[2])))
        || (seg[0] == 0x2001 && seg[1] == 0 && v4_bogon(embedded(seg[2], seg[3])))
}

/// Whether `ip` (an IP literal, canonical or not) is a bogon; `false` when it is not an
/// IP literal at all.
pub(crate) fn is_bogon(ip: &str) -> bool {
    match ip
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(v4)) => v4_bogon(v4),
        Ok(IpAddr::V6(v6)) => v6_bogon(v6),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_bogon;

    #[test]
    fn bogons() {
        for b in [
            "0.0.0.0",
            "10.10.34.36",
            "127.0.0.1",
            "192.168.1.1",
            "172.31.255.255",
            "100.64.0.1",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:1.2.3.4",
            "2002:a00:1::",
            "2001:0:7f00:1::",
        ] {
            assert!(is_bogon(b), "{b}");
        }
        for ok in [
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2a03:2880:f137:182:face:b00c:0:25de",
            "2002:808:808::",
            "example.com",
        ] {
            assert!(!is_bogon(ok), "{ok}");
        }
    }
}
