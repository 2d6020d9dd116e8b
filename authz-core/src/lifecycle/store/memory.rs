//! Every store in process memory, behind one mutex per kind of state.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    Failures, Families, Family, NewUser, Purged, RefreshRecord, Revocation, RevocationLog,
    RevocationQuery, Revoke, RevokeOutcome, Revoked, Rotate, Rotation, SessionStore, StoreError,
    StoreResult, ThrottleStore, User, UserStore,
};
use crate::clock::lock;

/// Every store in memory: for tests, and for apps with one process whose state may be lost on
/// restart (users, sessions and revocations with it — use an `SqlStore` to keep them).
/// Expired revocations and throttle counters are purged as new ones arrive.
///
/// ```
/// use authz_core::lifecycle::store::{
///     Families, MemoryStore, Revocation, RevocationQuery, Revoke, Revoked, SessionStore,
/// };
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let jti = Revocation::new(Revoked::Token { id: "jti-1".into() }, 2_000);
/// store.revoke(&Revoke::new(Families::None, 1_000).also(jti)).await?;
/// let query = RevocationQuery { subject: "42", token_id: Some("jti-1"), session_id: None, issued_at: Some(1_000) };
/// assert!(store.is_revoked(query, 1_500).await?);
/// assert!(!store.is_revoked(query, 2_000).await?, "forgotten once it no longer matters");
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    users: Mutex<Users>,
    sessions: Mutex<Sessions>,
    throttle: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Default)]
struct Users {
    next_id: i64,
    by_id: HashMap<i64, User>,
    by_key: HashMap<String, i64>,
}

/// Families, their tokens and the revocations: one lock, so that a family change and its
/// revocations are one step, as in a transaction.
#[derive(Debug, Default)]
struct Sessions {
    families: HashMap<String, (Family, Option<u64>)>,
    tokens: HashMap<String, (RefreshRecord, Option<u64>)>,
    revoked: RevocationSet,
    seq: u64,
    writes: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: NewUser, now: u64) -> StoreResult<User> {
        let mut users = lock(&self.users);
        let email = user.email.map(|email| email.to_lowercase());
        let taken = users.by_key.contains_key(&user.login_key)
            || email.as_ref().is_some_and(|email| {
                users
                    .by_id
                    .values()
                    .any(|existing| existing.email.as_ref() == Some(email))
            });
        if taken {
            return Err(StoreError::Conflict);
        }
        users.next_id += 1;
        let login_key = user.login_key;
        let user = User {
            id: users.next_id,
            username: user.username,
            email,
            password_hash: user.password_hash,
            roles: user.roles,
            scopes: user.scopes,
            created_at: now,
        };
        users.by_key.insert(login_key, user.id);
        users.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    async fn user_by_login(&self, key: &str) -> StoreResult<Option<User>> {
        let users = lock(&self.users);
        let by_name = users.by_key.get(key).and_then(|id| users.by_id.get(id));
        Ok(by_name
            .or_else(|| {
                users
                    .by_id
                    .values()
                    .find(|user| user.email.as_deref() == Some(key))
            })
            .cloned())
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        Ok(lock(&self.users).by_id.get(&id).cloned())
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> StoreResult<()> {
        if let Some(user) = lock(&self.users).by_id.get_mut(&id) {
            hash.clone_into(&mut user.password_hash);
        }
        Ok(())
    }

    async fn set_roles(&self, id: i64, roles: &[String]) -> StoreResult<()> {
        if let Some(user) = lock(&self.users).by_id.get_mut(&id) {
            user.roles = roles.to_vec();
        }
        Ok(())
    }

    async fn password_schemes(&self) -> StoreResult<Vec<String>> {
        let mut schemes: Vec<String> = lock(&self.users)
            .by_id
            .values()
            .filter(|user| user.password_hash.starts_with("$2"))
            .filter_map(|user| user.password_hash.get(..7).map(str::to_owned))
            .collect();
        schemes.sort();
        schemes.dedup();
        Ok(schemes)
    }
}

impl Sessions {
    /// Marks a family revoked; the family if it was live.
    fn revoke_family(&mut self, family_id: &str, now: u64) -> Option<Family> {
        let (family, revoked) = self.families.get_mut(family_id)?;
        if revoked.is_some() {
            return None;
        }
        *revoked = Some(now);
        Some(family.clone())
    }

    /// Writes `revocations` under the next sequence number; returns them as stored.
    fn write(&mut self, revocations: Vec<Revocation>) -> Vec<Revocation> {
        if revocations.is_empty() {
            return revocations;
        }
        self.seq += 1;
        let seq = self.seq;
        revocations
            .into_iter()
            .map(|mut revocation| {
                revocation.seq = seq;
                self.revoked.apply(&revocation)
            })
            .collect()
    }

    fn purge(&mut self, now: u64) -> u64 {
        let before = self.families.len() + self.tokens.len() + self.revoked.len();
        self.families
            .retain(|_, (family, _)| family.expires_at > now);
        let families = &self.families;
        self.tokens
            .retain(|_, (record, _)| families.contains_key(&record.family));
        self.revoked.prune(now);
        let after = self.families.len() + self.tokens.len() + self.revoked.len();
        (before - after) as u64
    }

    fn maybe_purge(&mut self, now: u64) {
        self.writes += 1;
        if self.writes >= 1024 {
            self.writes = 0;
            self.purge(now);
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn start_family(&self, family: &Family, first: &RefreshRecord) -> StoreResult<()> {
        let mut sessions = lock(&self.sessions);
        sessions.maybe_purge(family.created_at);
        sessions
            .families
            .insert(family.id.clone(), (family.clone(), None));
        sessions
            .tokens
            .insert(first.hash.clone(), (first.clone(), None));
        Ok(())
    }

    async fn rotate(&self, request: &Rotate<'_>) -> StoreResult<Rotation> {
        let now = request.now;
        let mut sessions = lock(&self.sessions);
        let Some((record, used)) = sessions.tokens.get(request.presented).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let Some((family, revoked)) = sessions.families.get(&record.family).cloned() else {
            return Ok(Rotation::Unknown);
        };
        if revoked.is_some() {
            return Ok(Rotation::Revoked);
        }
        if let Some(used) = used {
            if used.saturating_add(request.reuse_grace) > now {
                return Ok(Rotation::Raced);
            }
            sessions.revoke_family(&family.id, now);
            let session = Revocation::new(
                Revoked::Session {
                    id: family.id.clone(),
                },
                request.session_until,
            );
            let revoked = sessions.write(vec![session]);
            return Ok(Rotation::Reused { family, revoked });
        }
        if record.expires_at <= now || family.expires_at <= now {
            return Ok(Rotation::Expired);
        }
        if let Some((_, used)) = sessions.tokens.get_mut(request.presented) {
            *used = Some(now);
        }
        let next = RefreshRecord {
            hash: request.next_hash.to_owned(),
            family: family.id.clone(),
            issued_at: now,
            expires_at: now.saturating_add(request.idle_ttl).min(family.expires_at),
        };
        sessions.tokens.insert(next.hash.clone(), (next, None));
        Ok(Rotation::Rotated { family })
    }

    async fn revoke(&self, request: &Revoke<'_>) -> StoreResult<RevokeOutcome> {
        let now = request.now;
        let mut sessions = lock(&self.sessions);
        sessions.maybe_purge(now);
        let families: Vec<Family> = match request.families {
            Families::None => Vec::new(),
            Families::Id(id) => sessions.revoke_family(id, now).into_iter().collect(),
            Families::OfToken(hash) => match sessions.tokens.get(hash) {
                Some((record, _)) => {
                    let id = record.family.clone();
                    sessions.revoke_family(&id, now).into_iter().collect()
                }
                None => Vec::new(),
            },
            Families::OfSubject(subject) => {
                let mut revoked = Vec::new();
                for (family, at) in sessions.families.values_mut() {
                    if family.subject == subject && at.is_none() && family.expires_at > now {
                        *at = Some(now);
                        revoked.push(family.clone());
                    }
                }
                revoked
            }
        };
        let mut revocations: Vec<Revocation> = families
            .iter()
            .map(|family| {
                Revocation::new(
                    Revoked::Session {
                        id: family.id.clone(),
                    },
                    request.session_until,
                )
            })
            .collect();
        revocations.extend(request.also.iter().cloned());
        let revocations = sessions.write(revocations);
        Ok(RevokeOutcome {
            families,
            revocations,
        })
    }

    async fn revocations_since(&self, after: u64, now: u64) -> StoreResult<RevocationLog> {
        let sessions = lock(&self.sessions);
        Ok(RevocationLog {
            entries: sessions.revoked.since(after, now),
            seq: sessions.seq,
        })
    }

    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool> {
        Ok(lock(&self.sessions).revoked.covers(&query, now))
    }

    async fn purge_expired(&self, now: u64) -> StoreResult<Purged> {
        Ok(Purged {
            rows: lock(&self.sessions).purge(now),
        })
    }

    fn is_in_process(&self) -> bool {
        true
    }
}

/// A set of revocations, merged as the durable stores merge them (a revocation keeps the
/// later `until`, a subject the later mark): the memory store's, and each instance's mirror.
#[derive(Debug, Default)]
pub(crate) struct RevocationSet {
    tokens: HashMap<String, (u64, u64)>,
    sessions: HashMap<String, (u64, u64)>,
    subjects: HashMap<String, (u64, u64, u64)>,
}

impl RevocationSet {
    /// Adds (or merges) one revocation; returns it as merged.
    pub(crate) fn apply(&mut self, revocation: &Revocation) -> Revocation {
        let (until, seq) = (revocation.until, revocation.seq);
        match &revocation.revoked {
            Revoked::Token { id } | Revoked::Session { id } => {
                let map = if matches!(revocation.revoked, Revoked::Token { .. }) {
                    &mut self.tokens
                } else {
                    &mut self.sessions
                };
                let entry = map.entry(id.clone()).or_insert((until, seq));
                *entry = (entry.0.max(until), entry.1.max(seq));
                Revocation {
                    revoked: revocation.revoked.clone(),
                    until: entry.0,
                    seq: entry.1,
                }
            }
            Revoked::Subject { id, mark } => {
                let entry = self
                    .subjects
                    .entry(id.clone())
                    .or_insert((*mark, until, seq));
                *entry = (entry.0.max(*mark), entry.1.max(until), entry.2.max(seq));
                Revocation {
                    revoked: Revoked::Subject {
                        id: id.clone(),
                        mark: entry.0,
                    },
                    until: entry.1,
                    seq: entry.2,
                }
            }
        }
    }

    /// Whether a live entry refuses the token described by `query`.
    pub(crate) fn covers(&self, query: &RevocationQuery<'_>, now: u64) -> bool {
        let live = |entry: Option<&(u64, u64)>| entry.is_some_and(|(until, _)| *until > now);
        if query.token_id.is_some_and(|jti| live(self.tokens.get(jti)))
            || query
                .session_id
                .is_some_and(|sid| live(self.sessions.get(sid)))
        {
            return true;
        }
        match self.subjects.get(query.subject) {
            Some(&(mark, until, _)) if until > now => query.issued_at.is_none_or(|iat| iat <= mark),
            _ => false,
        }
    }

    /// Forgets what no longer matters at `now`.
    pub(crate) fn prune(&mut self, now: u64) {
        self.tokens.retain(|_, (until, _)| *until > now);
        self.sessions.retain(|_, (until, _)| *until > now);
        self.subjects.retain(|_, (_, until, _)| *until > now);
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.subjects.len()
    }

    /// The live entries written after `after`, by sequence.
    fn since(&self, after: u64, now: u64) -> Vec<Revocation> {
        let plain = |map: &HashMap<String, (u64, u64)>, make: fn(String) -> Revoked| {
            map.iter()
                .filter(|(_, (until, seq))| *seq > after && *until > now)
                .map(|(id, (until, seq))| Revocation {
                    revoked: make(id.clone()),
                    until: *until,
                    seq: *seq,
                })
                .collect::<Vec<_>>()
        };
        let mut entries = plain(&self.tokens, |id| Revoked::Token { id });
        entries.extend(plain(&self.sessions, |id| Revoked::Session { id }));
        entries.extend(
            self.subjects
                .iter()
                .filter(|(_, (_, until, seq))| *seq > after && *until > now)
                .map(|(id, (mark, until, seq))| Revocation {
                    revoked: Revoked::Subject {
                        id: id.clone(),
                        mark: *mark,
                    },
                    until: *until,
                    seq: *seq,
                }),
        );
        entries.sort_by_key(|entry| entry.seq);
        entries
    }
}

#[async_trait]
impl ThrottleStore for MemoryStore {
    async fn failures(&self, key: &str, window: u64, now: u64) -> StoreResult<Option<Failures>> {
        let throttle = lock(&self.throttle);
        Ok(throttle
            .get(key)
            .filter(|failures| failures.last.saturating_add(window) > now)
            .copied())
    }

    async fn record_failure(&self, key: &str, window: u64, now: u64) -> StoreResult<Failures> {
        let mut throttle = lock(&self.throttle);
        if throttle.len() >= 100_000 {
            throttle.retain(|_, failures| failures.last.saturating_add(window) > now);
        }
        let failures = throttle.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if failures.last.saturating_add(window) <= now {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        Ok(*failures)
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        lock(&self.throttle).remove(key);
        Ok(())
    }

    async fn purge_expired(&self, before: u64) -> StoreResult<Purged> {
        let mut throttle = lock(&self.throttle);
        let count = throttle.len();
        throttle.retain(|_, failures| failures.last > before);
        Ok(Purged {
            rows: (count - throttle.len()) as u64,
        })
    }
}
