//! How a client address is counted: an IPv4 address, or an IPv6 /64 — one host (or one
//! customer) usually holds a whole /64, so counting per IPv6 address would let one client
//! rotate through billions of buckets. Login throttling, registration throttling, quotas and
//! usage counters all count by this.
//!
//! ```
//! use std::net::IpAddr;
//! use authz_core::client::address_group;
//!
//! let a: IpAddr = "2001:db8:1:2::1".parse()?;
//! let b: IpAddr = "2001:db8:1:2:ffff::9".parse()?;
//! assert_eq!(address_group(a), address_group(b));
//! assert_eq!(address_group("192.0.2.7".parse()?), "192.0.2.7");
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

use std::net::IpAddr;

/// The group `ip` counts in: itself for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6.
pub fn address_group(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}
