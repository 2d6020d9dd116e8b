//! A bounded cache of verified tokens, for clients that send the same token on every request.
//!
//! A hit returns the principal verified earlier — after checking, at the current time, that
//! the token has not expired and that its key is still trusted. A hit needs the exact same
//! token text (the token is the key): a token that differs in any byte, such as an ECDSA
//! malleable twin, is verified from scratch. Refusals are never cached. Revocation is not the
//! verifier's job: the layer's revocation hook runs on every request, cached or not.

use quick_cache::sync::Cache;

use crate::principal::Principal;

#[derive(Clone)]
struct Entry {
    principal: Principal,
    expires_at: Option<f64>,
    key_id: u64,
}

pub(crate) struct TokenCache(Cache<Box<str>, Entry>);

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(Cache::new(capacity.max(1)))
    }

    /// The cached principal for exactly `token`, if it is still valid at `now` (with `leeway`)
    /// and its key passes `trusted` (given the key's id and `kid`).
    pub(crate) fn get(
        &self,
        token: &str,
        now: f64,
        leeway: f64,
        trusted: impl Fn(u64, Option<&str>) -> bool,
    ) -> Option<Principal> {
        let entry = self.0.get(token)?;
        let live = entry.expires_at.is_none_or(|exp| now < exp + leeway)
            && trusted(entry.key_id, entry.principal.key_id());
        if live {
            Some(entry.principal)
        } else {
            self.0.remove(token);
            None
        }
    }

    /// Remembers a token that was just verified with the key `key_id`.
    pub(crate) fn insert(&self, token: &str, principal: &Principal, key_id: u64) {
        self.0.insert(
            token.into(),
            Entry {
                principal: principal.clone(),
                expires_at: principal.expires_at(),
                key_id,
            },
        );
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}
