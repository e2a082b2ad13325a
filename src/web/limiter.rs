//! Per-client limits on lookups of unknown secrets (link tokens, API tokens).
//!
//! Every route that looks a secret up from its URL or a header first checks
//! the secret; only a miss is counted, and only a miss can be refused. So a
//! client over the limit still gets the real page for a valid link, and 429
//! instead of 404 for the rest: the difference tells it nothing it did not
//! know, since a valid link works either way.
//!
//! The window slides: a client may miss `limit` times in any `window`; the
//! next miss is refused (and not counted) until the oldest one ages out.
//! Time is read from the app's clock, so tests move it instead of sleeping.
//! The count lives in this process only; see the README ("Tokens and abuse").

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, AppState, PageError};
use crate::domain::Timestamp;

/// Unknown-token lookups allowed per client in one window.
pub const MISSES_PER_WINDOW: usize = 20;
/// The window the limit is counted over.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Clients tracked at most; beyond it the stalest is forgotten.
const MAX_CLIENTS: usize = 10_000;

/// What a client is counted as: its IPv4 address, or the /64 its IPv6 address
/// is in (one host usually holds a whole /64, so counting addresses one by
/// one would let it pick a fresh one for each guess). Requests that came
/// without a peer address (an in-process call) share one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
    Unknown,
}

impl ClientKey {
    pub fn of(ip: Option<IpAddr>) -> Self {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => Self::V4(v4.octets()),
            Some(IpAddr::V6(v6)) => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Self::V6Prefix(prefix)
            }
            None => Self::Unknown,
        }
    }
}

/// Whether a miss was counted or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Counted: answer as for any unknown link (404, 401).
    Counted,
    /// Over the limit: answer 429.
    Limited,
}

/// The in-process limiter. Memory is bounded: at most `max_clients` entries
/// of at most `limit` instants each, and entries with no miss inside the
/// window are swept once a window.
#[derive(Debug)]
pub struct TokenLimiter {
    limit: usize,
    window_ms: i64,
    max_clients: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per client, the instants (ms) of its misses inside the window, oldest first.
    misses: HashMap<ClientKey, VecDeque<i64>>,
    last_sweep: i64,
}

impl Default for TokenLimiter {
    fn default() -> Self {
        Self::new(MISSES_PER_WINDOW, WINDOW, MAX_CLIENTS)
    }
}

impl TokenLimiter {
    pub fn new(limit: usize, window: Duration, max_clients: usize) -> Self {
        Self {
            limit: limit.max(1),
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1),
            max_clients: max_clients.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records a lookup of an unknown secret by `client` at `now`.
    pub fn miss(&self, client: ClientKey, now: Timestamp) -> Miss {
        let now = now.as_millis();
        let cutoff = now.saturating_sub(self.window_ms);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if now.saturating_sub(inner.last_sweep) >= self.window_ms {
            inner
                .misses
                .retain(|_, times| times.back().is_some_and(|&t| t > cutoff));
            inner.last_sweep = now;
        }
        if !inner.misses.contains_key(&client) && inner.misses.len() >= self.max_clients {
            inner
                .misses
                .retain(|_, times| times.back().is_some_and(|&t| t > cutoff));
            if inner.misses.len() >= self.max_clients {
                let stalest = inner
                    .misses
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied().unwrap_or(i64::MIN))
                    .map(|(key, _)| *key);
                if let Some(key) = stalest {
                    inner.misses.remove(&key);
                }
            }
        }
        let times = inner.misses.entry(client).or_default();
        while times.front().is_some_and(|&t| t <= cutoff) {
            times.pop_front();
        }
        if times.len() >= self.limit {
            return Miss::Limited;
        }
        times.push_back(now);
        Miss::Counted
    }

    /// How many clients are tracked (for tests of the memory bound).
    pub fn clients(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .misses
            .len()
    }
}

tokio::task_local! {
    /// The client of the request being handled (set by [`client_scope`]).
    static CLIENT: ClientKey;
}

/// Middleware: makes the request's peer address known to the lookups below
/// it, so a lookup deep in a handler (`party::resolve`) can count a miss
/// against the right client without every handler passing it down.
pub async fn client_scope(request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    CLIENT.scope(ClientKey::of(ip), next.run(request)).await
}

fn current_client() -> ClientKey {
    CLIENT.try_with(|c| *c).unwrap_or(ClientKey::Unknown)
}

/// Counts a miss by the current client; `Limited` once it is over the limit.
pub fn record_miss(state: &AppState) -> Miss {
    state.limiter.miss(current_client(), state.clock.now())
}

/// The answer to an unknown link on a page: `unknown` (usually a 404), or a
/// kind 429 page once the client has missed too often.
pub fn page_miss(state: &AppState, unknown: PageError) -> PageError {
    match record_miss(state) {
        Miss::Counted => unknown,
        Miss::Limited => PageError::too_many_lookups(),
    }
}

/// The answer to an unknown API token: 401, or 429 once over the limit.
pub fn api_miss(state: &AppState) -> ApiError {
    match record_miss(state) {
        Miss::Counted => ApiError::unauthorized(),
        Miss::Limited => ApiError::too_many_lookups(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const T0: Timestamp = Timestamp::from_millis(1_000_000);

    fn v4(last: u8) -> ClientKey {
        ClientKey::of(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))))
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(T0.as_millis() + ms)
    }

    #[test]
    fn the_twenty_first_miss_in_a_minute_is_refused() {
        let limiter = TokenLimiter::default();
        for i in 0..20 {
            assert_eq!(limiter.miss(v4(1), at(i * 100)), Miss::Counted, "miss {i}");
        }
        assert_eq!(limiter.miss(v4(1), at(2_100)), Miss::Limited);
        assert_eq!(limiter.miss(v4(1), at(59_000)), Miss::Limited);
    }

    #[test]
    fn clients_are_counted_apart() {
        let limiter = TokenLimiter::default();
        for i in 0..20 {
            limiter.miss(v4(1), at(i));
        }
        assert_eq!(limiter.miss(v4(1), at(30)), Miss::Limited);
        assert_eq!(limiter.miss(v4(2), at(30)), Miss::Counted);
    }

    #[test]
    fn the_window_slides() {
        let limiter = TokenLimiter::new(3, Duration::from_secs(60), 100);
        assert_eq!(limiter.miss(v4(1), at(0)), Miss::Counted);
        assert_eq!(limiter.miss(v4(1), at(30_000)), Miss::Counted);
        assert_eq!(limiter.miss(v4(1), at(40_000)), Miss::Counted);
        assert_eq!(limiter.miss(v4(1), at(59_999)), Miss::Limited);
        // The first miss ages out at 60 s: one more is allowed, then none
        // until the one at 30 s ages out too.
        assert_eq!(limiter.miss(v4(1), at(60_000)), Miss::Counted);
        assert_eq!(limiter.miss(v4(1), at(60_001)), Miss::Limited);
        assert_eq!(limiter.miss(v4(1), at(90_000)), Miss::Counted);
    }

    #[test]
    fn refused_misses_do_not_extend_the_block() {
        let limiter = TokenLimiter::new(2, Duration::from_secs(60), 100);
        limiter.miss(v4(1), at(0));
        limiter.miss(v4(1), at(1));
        for s in 1..60 {
            assert_eq!(limiter.miss(v4(1), at(s * 1000)), Miss::Limited);
        }
        assert_eq!(limiter.miss(v4(1), at(61_000)), Miss::Counted);
    }

    #[test]
    fn an_ipv6_host_cannot_dodge_the_limit_by_changing_its_interface_id() {
        let limiter = TokenLimiter::new(2, Duration::from_secs(60), 100);
        let host = |n: u16| {
            ClientKey::of(Some(IpAddr::V6(Ipv6Addr::new(
                0x2001, 0xdb8, 1, 2, 0, 0, 0, n,
            ))))
        };
        assert_eq!(limiter.miss(host(1), at(0)), Miss::Counted);
        assert_eq!(limiter.miss(host(2), at(0)), Miss::Counted);
        assert_eq!(limiter.miss(host(3), at(0)), Miss::Limited);
        let other_net = ClientKey::of(Some(IpAddr::V6(Ipv6Addr::new(
            0x2001, 0xdb8, 1, 3, 0, 0, 0, 1,
        ))));
        assert_eq!(limiter.miss(other_net, at(0)), Miss::Counted);
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_the_ipv4_address() {
        let mapped = ClientKey::of(Some(IpAddr::V6(
            Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped(),
        )));
        assert_eq!(mapped, v4(1));
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = TokenLimiter::new(20, Duration::from_secs(60), 50);
        for i in 0..=255u8 {
            limiter.miss(v4(i), at(i64::from(i)));
            assert!(limiter.clients() <= 50);
        }
        // The newest client is tracked; the stalest were forgotten.
        for _ in 0..19 {
            limiter.miss(v4(255), at(300));
        }
        assert_eq!(limiter.miss(v4(255), at(300)), Miss::Limited);
    }

    #[test]
    fn quiet_clients_are_swept_after_a_window() {
        let limiter = TokenLimiter::default();
        for i in 0..10 {
            limiter.miss(v4(i), at(0));
        }
        assert_eq!(limiter.clients(), 10);
        limiter.miss(v4(200), at(61_000));
        assert_eq!(limiter.clients(), 1);
    }
}
