//! What every request passes before a page sees it: the `Host` header checked against the
//! names the page is served under (a DNS-rebinding page cannot talk to it), and a rate limit
//! per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

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

/// A token bucket per client address: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Addresses tracked before the idle ones are forgotten.
const TRACKED: usize = 4096;

impl RateLimit {
    /// A limit of `per_second` sustained and `burst` at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may make a request now (and takes a token if so).
    pub fn admit(&self, client: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > TRACKED {
            let burst = self.burst;
            let per_second = self.per_second;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
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
}
