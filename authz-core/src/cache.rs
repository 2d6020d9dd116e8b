//! A bounded cache of verified tokens, for clients that send the same token on every request.
//!
//! A hit returns the principal verified earlier — after checking, at the current time, that
//! the token has not expired and that its key is still trusted. A hit needs the exact same
//! token text (a full comparison, not only a hash): a token that differs in any byte, such as
//! an ECDSA malleable twin, is verified from scratch. Refusals are never cached. Revocation is
//! not the verifier's job: the layer's revocation hook runs on every request, cached or not.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Mutex, PoisonError};

use crate::principal::Principal;

const SHARDS: usize = 8;

/// Hashed: the last bytes of the token (its signature, the part an attacker cannot choose for
/// someone else's token), with a per-process random key. Collisions only cost a miss.
const HASHED_TAIL: usize = 32;

/// The shards' maps are keyed by that hash already: hashing it again would only cost time.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in rather than drop it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = Mutex<HashMap<u64, Entry, BuildHasherDefault<KeyIsHash>>>;

struct Entry {
    token: Box<str>,
    principal: Principal,
    expires_at: Option<f64>,
    key_id: u64,
}

pub(crate) struct TokenCache {
    shards: Box<[Shard]>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: Default::default(),
        }
    }

    fn slot(&self, token: &str) -> (u64, &Shard) {
        let tail = &token.as_bytes()[token.len().saturating_sub(HASHED_TAIL)..];
        let hash = self.hasher.hash_one(tail);
        // The shard from middle bits: the maps use the low bits and the top seven.
        (hash, &self.shards[((hash >> 32) as usize) % SHARDS])
    }

    /// The cached principal for exactly `token`, if it is still valid at `now` (with `leeway`)
    /// and its key passes `trusted`.
    pub(crate) fn get(
        &self,
        token: &str,
        now: f64,
        leeway: f64,
        trusted: impl Fn(u64) -> bool,
    ) -> Option<Principal> {
        let (hash, shard) = self.slot(token);
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get(&hash)?;
        if *entry.token != *token {
            return None;
        }
        let live = entry.expires_at.is_none_or(|exp| now < exp + leeway) && trusted(entry.key_id);
        if live {
            Some(entry.principal.clone())
        } else {
            map.remove(&hash);
            None
        }
    }

    /// Remembers a token that was just verified with the key `key_id`.
    pub(crate) fn insert(&self, token: &str, principal: &Principal, key_id: u64) {
        let (hash, shard) = self.slot(token);
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.per_shard && !map.contains_key(&hash) {
            // Evict one entry; the map's iteration order is randomly seeded.
            if let Some(&victim) = map.keys().next() {
                map.remove(&victim);
            }
        }
        map.insert(
            hash,
            Entry {
                token: token.into(),
                principal: principal.clone(),
                expires_at: principal.expires_at(),
                key_id,
            },
        );
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}
