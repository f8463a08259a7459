//! What every request passes before a page sees it: the `Host` header checked against the
//! names the page is served under (a DNS-rebinding page cannot talk to it), and a rate limit
//! per client: an IPv4 address, or an IPv6 network of 64 bits (one household or server holds a
//! whole /64, so counting its addresses one by one would be no limit at all).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `Host` values a request may carry: the listen address, `localhost` for a loopback one,
/// and the public URL's host.
#[derive(Debug, Clone)]
pub struct Hosts {
    allowed: Vec<String>,
}

impl Hosts {
    /// The hosts of a listen address and an optional public URL (`https://papers.lab.org`).
    pub fn new(listen: std::net::SocketAddr, public_url: Option<&str>) -> Self {
        let mut allowed = vec![listen.to_string()];
        if listen.ip().is_loopback() {
            allowed.push(format!("localhost:{}", listen.port()));
            if listen.port() == 80 {
                allowed.push("localhost".to_owned());
            }
        }
        if let Some(url) = public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or(url);
            let host = rest.split('/').next().unwrap_or_default();
            if !host.is_empty() {
                allowed.push(host.to_ascii_lowercase());
            }
        }
        Self { allowed }
    }

    /// Whether a request's `Host` is one of them (case-insensitive).
    pub fn allows(&self, host: Option<&str>) -> bool {
        host.is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            self.allowed.contains(&host)
        })
    }
}

/// The address a request counts against. A request straight from a client counts against its
/// own address. One from a trusted reverse proxy counts against the client the proxies name in
/// `X-Forwarded-For` (`forwarded_for`: the header's values in order, each a comma-separated
/// list, nearest hop last): the last address there that is not itself a trusted proxy. What
/// stands left of that address is the client's to write, so it is never read; a hop that is
/// not an address ends the walk at the last one that was.
pub fn client_of<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpAddr],
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(address) if trusted.contains(&address) => client = address,
            Ok(address) => return address,
            Err(_) => break,
        }
    }
    client
}

/// A token bucket per client ([`client_key`]): `burst` requests at once, refilled at
/// `per_second`.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_client: HashMap<IpAddr, (f64, Instant)>,
    swept: Instant,
}

/// Clients tracked before the idle ones are forgotten.
const TRACKED: usize = 4096;

/// The least time between two sweeps of the idle clients: a sweep reads every bucket, and
/// clients that keep arriving from new addresses must not make every request pay for one.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Who a request counts against: an IPv4 address (also when written as an IPv4-mapped IPv6
/// one), or the first 64 bits of an IPv6 address.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !(u128::from(u64::MAX));
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

impl RateLimit {
    /// A limit of `per_second` sustained and `burst` at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(Buckets {
                by_client: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// Whether a request from `address` may go on now (and takes a token if so).
    pub fn admit(&self, address: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.by_client.len() > TRACKED && now.duration_since(buckets.swept) >= SWEEP_EVERY {
            let burst = self.burst;
            let per_second = self.per_second;
            buckets.by_client.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < burst
            });
            buckets.swept = now;
        }
        let (tokens, at) = buckets
            .by_client
            .entry(client_key(address))
            .or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_served_names_pass() {
        let hosts = Hosts::new(
            "127.0.0.1:8737".parse().expect("addr"),
            Some("https://Papers.Lab.org/ps"),
        );
        assert!(hosts.allows(Some("127.0.0.1:8737")));
        assert!(hosts.allows(Some("localhost:8737")));
        assert!(hosts.allows(Some("papers.lab.org")));
        assert!(
            !hosts.allows(Some("evil.example:8737")),
            "a rebinding page's name"
        );
        assert!(!hosts.allows(Some("127.0.0.1:9999")));
        assert!(!hosts.allows(None));
    }

    #[test]
    fn a_client_past_its_burst_waits_and_others_do_not() {
        let limit = RateLimit::new(0.001, 3.0);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        assert!((0..3).all(|_| limit.admit(a)));
        assert!(!limit.admit(a));
        assert!(limit.admit(b));
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_and_only_by_its_nearest_hops() {
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        let proxies = [ip("127.0.0.1"), ip("10.0.0.2")];
        let client =
            |peer: &str, headers: &[&str]| client_of(ip(peer), headers.iter().copied(), &proxies);
        assert_eq!(
            client("198.51.100.7", &["203.0.113.9"]),
            ip("198.51.100.7"),
            "a client cannot name itself"
        );
        assert_eq!(client("127.0.0.1", &["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(
            client("127.0.0.1", &["1.1.1.1, 203.0.113.9"]),
            ip("203.0.113.9"),
            "what the client wrote stands left of what the proxy added"
        );
        assert_eq!(
            client("127.0.0.1", &["6.6.6.6", "203.0.113.9, 10.0.0.2"]),
            ip("203.0.113.9"),
            "two proxies, two header lines"
        );
        assert_eq!(client("127.0.0.1", &[" 2001:db8::5 "]), ip("2001:db8::5"));
        assert_eq!(client("127.0.0.1", &[]), ip("127.0.0.1"));
        assert_eq!(client("127.0.0.1", &["junk, 10.0.0.2"]), ip("10.0.0.2"));
    }

    #[test]
    fn an_ipv6_network_is_one_client_whatever_address_it_sends_from() {
        let limit = RateLimit::new(0.001, 3.0);
        let from = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 7, 9, 0, 0, 0, last));
        assert!((1..=3).all(|last| limit.admit(from(last))));
        assert!(!limit.admit(from(4)), "a fresh address in the same /64");
        let next_network = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 7, 10, 0, 0, 0, 1));
        assert!(limit.admit(next_network));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(
            client_key(mapped),
            "10.0.0.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn idle_clients_are_forgotten_and_busy_ones_kept() {
        // Three at once, refilled at 1.2 a second: a client that asked once is full again a
        // second later, one that used all three is not.
        let limit = RateLimit::new(1.2, 3.0);
        let busy: IpAddr = "10.1.0.1".parse().expect("ip");
        assert!((0..3).all(|_| limit.admit(busy)));
        for n in 0..=TRACKED as u32 {
            assert!(limit.admit(IpAddr::V4((0x0b00_0000 + n).into())));
        }
        std::thread::sleep(SWEEP_EVERY);
        assert!(limit.admit("10.2.0.1".parse().expect("ip")));
        let tracked = limit
            .buckets
            .lock()
            .map(|b| b.by_client.len())
            .unwrap_or_default();
        assert_eq!(tracked, 2, "the busy client and the one that just asked");
        assert!(limit.admit(busy), "1.2 tokens back after a second");
        assert!(!limit.admit(busy), "but not 2");
    }
}
