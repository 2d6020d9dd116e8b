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

/// Login throttling: back-off, not lockout (OWASP authentication cheat sheet, "account
/// lockout"). On each failure these keys count:
///
/// - the account *from this client address* (default: 5 free, then 1 s doubling up to 15 min):
///   stops guessing one account from one place;
/// - the client address (20 free, up to 15 min): stops one place guessing many accounts;
/// - the account from anywhere (100 free, up to 1 min): slows a distributed attack on one
///   account. **A device that has logged in to the account before** — it presents the signed
///   device token the last successful login gave it — is not held by this rule, so strangers
///   cannot lock the owner out; everyone else is (letting a correct password through would tell
///   a distributed attacker which guess was right);
/// - that device token (5 free, up to 15 min), so a stolen device token buys no guesses.
///
/// A successful login clears the account's counters. Without a client address (the app did
/// not pass one) the address rules are skipped: one bucket for every unknown caller would let
/// anyone throttle everyone. IPv6 addresses count by /64, as one host usually holds a whole
/// /64. Accounts count by user id once known, so a username and an email are one bucket, and
/// unknown names by a keyed hash: no throttle row holds a name someone typed.
///
/// Registrations count per client address too ([`registration`](Self::registration)), every
/// attempt, so that a flood of sign-ups costs the flooder, not the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    /// Rule for (account, client address).
    pub account_and_client: ThrottleRule,
    /// Rule for the client address.
    pub client: ThrottleRule,
    /// Rule for the account (waived for a known device).
    pub account: ThrottleRule,
    /// Rule for one device token.
    pub device: ThrottleRule,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// Rule for registrations from one client address.
    pub registration: ThrottleRule,
    /// Registrations older than this are forgotten.
    pub registration_window: Duration,
}

impl Default for Throttling {
    fn default() -> Self {
        let rule = |free, base, max| ThrottleRule {
            free,
            base_delay: Duration::from_secs(base),
            max_delay: Duration::from_secs(max),
        };
        Self {
            account_and_client: rule(5, 1, 900),
            client: rule(20, 1, 900),
            account: rule(100, 1, 60),
            device: rule(5, 1, 900),
            window: Duration::from_secs(900),
            registration: rule(10, 60, 3600),
            registration_window: Duration::from_secs(3600),
        }
    }
}

pub(crate) use crate::client::address_group;

/// The keys one login attempt counts under.
pub(crate) struct ThrottleKeys {
    pub(crate) account_and_client: Option<String>,
    pub(crate) client: Option<String>,
    /// `None` for a known device (the account rule is waived).
    pub(crate) account: Option<String>,
    pub(crate) device: Option<String>,
}

impl ThrottleKeys {
    /// `account` names the account (`u:<id>`, or `n:<keyed hash>` for an unknown name);
    /// `device` is the id of a valid device token for it.
    pub(crate) fn new(account: &str, client: Option<IpAddr>, device: Option<&str>) -> Self {
        let address = client.map(address_group);
        Self {
            account_and_client: address.as_ref().map(|a| format!("ac:{a}:{account}")),
            client: address.map(|a| format!("c:{a}")),
            account: device.is_none().then(|| format!("a:{account}")),
            device: device.map(|d| format!("d:{d}")),
        }
    }

    pub(crate) fn with_rules<'a>(
        &'a self,
        throttling: &'a Throttling,
    ) -> impl Iterator<Item = (&'a str, &'a ThrottleRule)> {
        [
            self.account_and_client
                .as_deref()
                .map(|key| (key, &throttling.account_and_client)),
            self.client
                .as_deref()
                .map(|client| (client, &throttling.client)),
            self.account
                .as_deref()
                .map(|key| (key, &throttling.account)),
            self.device.as_deref().map(|key| (key, &throttling.device)),
        ]
        .into_iter()
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_64() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_group(a), address_group(b));
        assert_ne!(address_group(a), address_group(c));
        assert_eq!(
            address_group("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1"
        );
        assert_eq!(address_group("192.0.2.1".parse().unwrap()), "192.0.2.1");
    }
}
