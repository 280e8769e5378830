//! Which addresses an `http` tool may connect to. By default only public ones: a URL (or a
//! redirect, or a DNS answer) pointing at loopback, link-local, cloud metadata, private,
//! shared (CGNAT), unspecified, broadcast or multicast addresses is refused, so the model cannot
//! make the runner read internal services (SSRF). A Tool opens named networks with
//! `allowPrivateNetworks` (CIDRs) or whole hosts with `allowedHosts`.
//!
//! The check runs on the addresses the connection will use: [`GuardedResolver`] resolves a name
//! and hands reqwest only the addresses that pass, so a second DNS answer (rebinding) cannot
//! swap in another; literal IP hosts, which reqwest connects to without resolving, are checked
//! by [`AddressPolicy::check_url`] before the request and on every redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressClass {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `169.254.169.254` and `fd00:ec2::254`: cloud instance metadata (credentials live there).
    CloudMetadata,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// RFC 1918: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `fc00::/7`: IPv6 unique local addresses.
    UniqueLocal,
    /// `100.64.0.0/10`: carrier-grade NAT space, often a cloud's internal network.
    SharedAddressSpace,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
}

impl AddressClass {
    /// The class as named in refusals.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::CloudMetadata => "cloud metadata",
            Self::LinkLocal => "link-local",
            Self::Private => "private (RFC 1918)",
            Self::UniqueLocal => "unique local (IPv6)",
            Self::SharedAddressSpace => "shared address space (CGNAT, 100.64.0.0/10)",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::Multicast => "multicast",
        }
    }
}

/// The class of a non-public address; `None` for a public one.
pub(crate) fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some(AddressClass::CloudMetadata)
    } else if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_link_local() {
        Some(AddressClass::LinkLocal)
    } else if ip.is_private() {
        Some(AddressClass::Private)
    } else if a == 100 && (64..128).contains(&b) {
        Some(AddressClass::SharedAddressSpace)
    } else if a == 0 {
        Some(AddressClass::Unspecified)
    } else if ip.is_broadcast() {
        Some(AddressClass::Broadcast)
    } else if ip.is_multicast() {
        Some(AddressClass::Multicast)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let first = ip.segments()[0];
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some(AddressClass::CloudMetadata)
    } else if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_unspecified() {
        Some(AddressClass::Unspecified)
    } else if first & 0xffc0 == 0xfe80 {
        Some(AddressClass::LinkLocal)
    } else if first & 0xfe00 == 0xfc00 {
        Some(AddressClass::UniqueLocal)
    } else if ip.is_multicast() {
        Some(AddressClass::Multicast)
    } else {
        None
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`)
/// address: connecting to one reaches the IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let [.., a, b, c, d] = ip.octets();
    let v4 = Ipv4Addr::new(a, b, c, d);
    if ip.to_ipv4_mapped().is_some() || nat64 { Some(v4) } else { None }
}

/// A network in CIDR notation, e.g. `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix` (a bare address is a single host).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr =
            address.parse().map_err(|_| format!("{text:?} is not a CIDR such as 10.0.0.0/8 or fd00::/8"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u128::from(net.to_bits()) << 96, u128::from(ip.to_bits()) << 96, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(net.to_bits(), ip.to_bits(), self.prefix),
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
    a & mask == b & mask
}

/// An address a tool may not connect to: the message names the address and its class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused to connect to {host} ({ip}): it is a {} address, which http tools may not reach unless \
     the Tool's http.allowPrivateNetworks or http.allowedHosts names it",
    class.as_str()
)]
pub(crate) struct AddressRefused {
    /// The host as written in the URL.
    pub(crate) host: String,
    /// The address it gave.
    pub(crate) ip: IpAddr,
    /// Why that address is refused.
    pub(crate) class: AddressClass,
}

/// The networks and hosts one tool may reach beyond public addresses.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressPolicy {
    networks: Vec<Cidr>,
    /// Lower case, without a trailing dot.
    hosts: Vec<String>,
}

impl AddressPolicy {
    /// The policy of a Tool's `allowPrivateNetworks` and `allowedHosts`.
    pub(crate) fn new(networks: &[String], hosts: &[String]) -> Result<Self, String> {
        let networks = networks.iter().map(|n| Cidr::parse(n)).collect::<Result<_, _>>()?;
        let hosts = hosts.iter().map(|h| normalize_host(h)).collect();
        Ok(Self { networks, hosts })
    }

    /// Whether `host` may connect to `ip`.
    pub(crate) fn check(&self, host: &str, ip: IpAddr) -> Result<(), AddressRefused> {
        let Some(class) = classify(ip) else { return Ok(()) };
        if self.networks.iter().any(|n| n.contains(ip)) || self.allows_host(host) {
            return Ok(());
        }
        Err(AddressRefused { host: host.to_string(), ip, class })
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.hosts.contains(&host)
    }

    /// Checks a URL whose host is a literal address (reqwest connects to those without asking the
    /// resolver); a name is left to [`GuardedResolver`].
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), AddressRefused> {
        let host = url.host_str().unwrap_or_default();
        match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => self.check(host, ip),
            Err(_) => Ok(()),
        }
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Resolves names for one tool's HTTP client and keeps only the addresses its policy allows; a
/// name with none left fails with the first [`AddressRefused`].
pub(crate) struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub(crate) fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match policy.check(&host, addr.ip()) {
                    Ok(()) => true,
                    Err(err) => {
                        refused.get_or_insert(err);
                        false
                    }
                })
                .collect();
            match refused {
                Some(err) if allowed.is_empty() => {
                    Err(Box::new(err) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The [`AddressRefused`] somewhere in an error's chain of causes, if any.
pub(crate) fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a AddressRefused> {
    let mut current = Some(error);
    while let Some(err) = current {
        if let Some(refused) = err.downcast_ref::<AddressRefused>() {
            return Some(refused);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn every_internal_range_has_its_class_and_public_addresses_none() {
        let cases = [
            ("127.0.0.1", Some(AddressClass::Loopback)),
            ("::1", Some(AddressClass::Loopback)),
            ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
            ("169.254.169.254", Some(AddressClass::CloudMetadata)),
            ("fd00:ec2::254", Some(AddressClass::CloudMetadata)),
            ("169.254.1.1", Some(AddressClass::LinkLocal)),
            ("fe80::1", Some(AddressClass::LinkLocal)),
            ("10.1.2.3", Some(AddressClass::Private)),
            ("172.31.0.1", Some(AddressClass::Private)),
            ("192.168.0.1", Some(AddressClass::Private)),
            ("64:ff9b::a01:203", Some(AddressClass::Private)),
            ("fd12::1", Some(AddressClass::UniqueLocal)),
            ("100.100.100.200", Some(AddressClass::SharedAddressSpace)),
            ("0.0.0.0", Some(AddressClass::Unspecified)),
            ("::", Some(AddressClass::Unspecified)),
            ("255.255.255.255", Some(AddressClass::Broadcast)),
            ("239.1.1.1", Some(AddressClass::Multicast)),
            ("ff02::1", Some(AddressClass::Multicast)),
            ("93.184.215.14", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
        ];
        for (address, class) in cases {
            assert_eq!(classify(ip(address)), class, "{address}");
        }
    }

    #[test]
    fn allowances_open_named_networks_and_hosts_only() {
        let policy =
            AddressPolicy::new(&["10.0.0.0/8".into(), "fd00::/8".into()], &["Internal.Example.".into()])
                .expect("policy");
        assert!(policy.check("a", ip("10.9.9.9")).is_ok());
        assert!(policy.check("a", ip("::ffff:10.9.9.9")).is_ok());
        assert!(policy.check("a", ip("fd00::5")).is_ok());
        assert!(policy.check("internal.example", ip("192.168.1.1")).is_ok());
        let refused = policy.check("a", ip("169.254.169.254")).expect_err("metadata");
        assert_eq!(refused.class, AddressClass::CloudMetadata);
        assert!(refused.to_string().contains("cloud metadata"), "{refused}");
        assert!(policy.check("a", ip("8.8.8.8")).is_ok());
    }

    #[test]
    fn cidrs_parse_strictly() {
        assert!(Cidr::parse("10.0.0.0/8").is_ok());
        assert!(Cidr::parse("127.0.0.1").expect("host").contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").expect("host").contains(ip("127.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").expect("all").contains(ip("1.2.3.4")));
        for bad in ["10.0.0.0/33", "fd00::/129", "nope/8", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
