//! Login throttling: the rules ([`Throttling`]) and the keys they count under.

use std::net::IpAddr;
use std::time::Duration;

/// One throttling rule: after `free` failures within `window` under a key, each further
/// attempt must wait `base_delay · 2^(failures − free)`, at most `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    /// Failures allowed without delay.
    pub free: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl ThrottleRule {
    /// Seconds to wait after `count` failures, the last at `last`; 0 if none.
    pub(crate) fn retry_after(&self, count: u32, last: u64, now: u64) -> u64 {
        if count < self.free {
            return 0;
        }
        let doublings = (count - self.free).min(30);
        let delay = self
            .base_delay
            .as_secs()
            .max(1)
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay.as_secs());
        (last + delay).saturating_sub(now)
    }
}

/// Login throttling: back-off, not lockout. Three keys are counted on each failure:
///
/// - the account *from this client address* (default: 5 free, then 1 s doubling up to 15 min):
///   stops guessing one account from one place;
/// - the client address (20 free, up to 15 min): stops one place guessing many accounts;
/// - the account from anywhere (100 free, up to 1 min): slows a distributed attack on one
///   account without letting strangers lock its owner out for long.
///
/// A successful login clears the first and the third. Without a client address (the app did
/// not pass one), the first counts per account and the second is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    /// Rule for (account, client address).
    pub account_and_client: ThrottleRule,
    /// Rule for the client address.
    pub client: ThrottleRule,
    /// Rule for the account.
    pub account: ThrottleRule,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

impl Default for Throttling {
    fn default() -> Self {
        let rule = |free, max| ThrottleRule {
            free,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(max),
        };
        Self {
            account_and_client: rule(5, 900),
            client: rule(20, 900),
            account: rule(100, 60),
            window: Duration::from_secs(900),
        }
    }
}

pub(crate) struct ThrottleKeys {
    pub(crate) account_and_client: String,
    /// `None` without a client address: one bucket for every unknown caller would let
    /// anyone throttle everyone.
    pub(crate) client: Option<String>,
    pub(crate) account: String,
}

impl ThrottleKeys {
    pub(crate) fn new(login: &str, client: Option<IpAddr>) -> Self {
        let login = login.to_lowercase();
        let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        Self {
            account_and_client: format!("ac:{address}:{login}"),
            client: client.map(|ip| format!("c:{ip}")),
            account: format!("a:{login}"),
        }
    }

    pub(crate) fn with_rules<'a>(
        &'a self,
        throttling: &'a Throttling,
    ) -> impl Iterator<Item = (&'a str, &'a ThrottleRule)> {
        [
            Some((
                self.account_and_client.as_str(),
                &throttling.account_and_client,
            )),
            self.client
                .as_deref()
                .map(|client| (client, &throttling.client)),
            Some((self.account.as_str(), &throttling.account)),
        ]
        .into_iter()
        .flatten()
    }
}
