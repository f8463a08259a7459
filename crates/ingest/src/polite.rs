//! Politeness towards the servers paperscout fetches from: requests to one host go one at a
//! time and start at least [`SPACING`] apart, whoever in the process makes them (a feed, an
//! OAI-PMH page after page, a bioRxiv cursor). arXiv asks for no more than one request every
//! 3 seconds, and the others deserve no less.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The least time between the starts of two requests to one host.
pub const SPACING: Duration = Duration::from_secs(3);

/// When each host's last request was made. A host's slot is made once and lives as long as
/// the process (a daemon fetches from a handful of hosts).
type Hosts = Mutex<HashMap<String, &'static Mutex<Option<Instant>>>>;

fn hosts() -> &'static Hosts {
    static HOSTS: OnceLock<Hosts> = OnceLock::new();
    HOSTS.get_or_init(Hosts::default)
}

/// The host (with its port) a URL names.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit('@')
        .next()
        .unwrap_or(authority)
        .to_ascii_lowercase()
}

/// The right to send one request to a host: held while the request is made, so no other
/// request to the host starts meanwhile.
pub struct Turn {
    last: MutexGuard<'static, Option<Instant>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        *self.last = Some(Instant::now());
    }
}

/// Waits for the host's turn: until no other request to it is in flight and [`SPACING`] has
/// passed since the last one started.
pub fn turn(url: &str) -> Turn {
    let slot: &'static Mutex<Option<Instant>> = hosts()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(host_of(url))
        .or_insert_with(|| Box::leak(Box::default()));
    let last = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(at) = *last {
        let ready = at + SPACING;
        let now = Instant::now();
        if ready > now {
            std::thread::sleep(ready - now);
        }
    }
    let mut turn = Turn { last };
    // The spacing counts from the start of this request.
    *turn.last = Some(Instant::now());
    turn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_told_apart_by_name_and_port() {
        assert_eq!(
            host_of("https://rss.example.org/rss/cs.CL"),
            "rss.example.org"
        );
        assert_eq!(host_of("http://127.0.0.1:8080/x?y"), "127.0.0.1:8080");
        assert_eq!(host_of("https://u:p@Example.org"), "example.org");
    }

    #[test]
    fn requests_to_one_host_start_at_least_the_spacing_apart() {
        let url = "http://polite.test.invalid/a";
        let started = Instant::now();
        drop(turn(url));
        drop(turn(url));
        assert!(started.elapsed() >= SPACING);
        // Another host does not wait.
        let other = Instant::now();
        drop(turn("http://another.test.invalid/"));
        assert!(other.elapsed() < Duration::from_secs(1));
    }
}
