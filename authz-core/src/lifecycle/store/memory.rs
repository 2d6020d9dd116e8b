//! Every store in process memory, behind one mutex per kind of state.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    Failures, Family, NewUser, RefreshRecord, RefreshStore, RevocationQuery, RevocationStore,
    Rotation, StoreError, StoreResult, ThrottleStore, User, UserStore,
};
use crate::clock::lock;

/// All four stores in memory: for tests, and for apps with one process whose state may be
/// lost on restart. Expired revocations and throttle counters are purged as new ones arrive.
///
/// ```
/// use authz_core::lifecycle::store::{MemoryStore, RevocationQuery, RevocationStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// store.revoke_token("jti-1", 2_000).await?;
/// let query = RevocationQuery { subject: "42", token_id: Some("jti-1"), session_id: None, issued_at: Some(1_000) };
/// assert!(store.is_revoked(query, 1_500).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    users: Mutex<Users>,
    refresh: Mutex<Refresh>,
    revoked: Mutex<Revoked>,
    throttle: Mutex<HashMap<String, Failures>>,
    replays: Mutex<HashMap<String, u64>>,
}

#[derive(Debug, Default)]
struct Users {
    next_id: i64,
    by_id: HashMap<i64, User>,
}

#[derive(Debug, Default)]
struct Refresh {
    families: HashMap<String, (Family, Option<u64>)>,
    tokens: HashMap<String, (RefreshRecord, Option<u64>)>,
}

#[derive(Debug, Default)]
struct Revoked {
    tokens: HashMap<String, u64>,
    sessions: HashMap<String, u64>,
    subjects: HashMap<String, (u64, u64)>,
    writes: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn same_login(user: &User, login: &str) -> bool {
    user.username == login
        || user
            .email
            .as_deref()
            .is_some_and(|email| email.eq_ignore_ascii_case(login))
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: NewUser, now: u64) -> StoreResult<User> {
        let mut users = lock(&self.users);
        let email = user.email.map(|email| email.to_lowercase());
        let taken = users.by_id.values().any(|existing| {
            existing.username == user.username
                || (email.is_some() && existing.email.as_deref() == email.as_deref())
        });
        if taken {
            return Err(StoreError::Conflict);
        }
        users.next_id += 1;
        let user = User {
            id: users.next_id,
            username: user.username,
            email,
            password_hash: user.password_hash,
            roles: user.roles,
            scopes: user.scopes,
            created_at: now,
        };
        users.by_id.insert(user.id, user.clone());
        Ok(user)
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let users = lock(&self.users);
        let by_name = users.by_id.values().find(|user| user.username == login);
        Ok(by_name
            .or_else(|| users.by_id.values().find(|user| same_login(user, login)))
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
}

impl Refresh {
    fn revoke(&mut self, family_id: &str, now: u64) -> Option<Family> {
        let (family, revoked) = self.families.get_mut(family_id)?;
        if revoked.is_some() {
            return None;
        }
        *revoked = Some(now);
        Some(family.clone())
    }

    fn purge(&mut self, now: u64) {
        self.families
            .retain(|_, (family, _)| family.expires_at > now);
        let families = &self.families;
        self.tokens
            .retain(|_, (record, _)| families.contains_key(&record.family));
    }
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn start_family(&self, family: &Family, first: &RefreshRecord) -> StoreResult<()> {
        let mut refresh = lock(&self.refresh);
        if refresh.families.len() % 1024 == 1023 {
            refresh.purge(family.created_at);
        }
        refresh
            .families
            .insert(family.id.clone(), (family.clone(), None));
        refresh
            .tokens
            .insert(first.hash.clone(), (first.clone(), None));
        Ok(())
    }

    async fn rotate(
        &self,
        presented: &str,
        next_hash: &str,
        idle_ttl: u64,
        reuse_grace: u64,
        now: u64,
    ) -> StoreResult<Rotation> {
        let mut refresh = lock(&self.refresh);
        let Some((record, used)) = refresh.tokens.get(presented).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let Some((family, revoked)) = refresh.families.get(&record.family).cloned() else {
            return Ok(Rotation::Unknown);
        };
        if revoked.is_some() {
            return Ok(Rotation::Revoked);
        }
        if let Some(used) = used {
            if used.saturating_add(reuse_grace) > now {
                return Ok(Rotation::Raced);
            }
            refresh.revoke(&family.id, now);
            return Ok(Rotation::Reused { family });
        }
        if record.expires_at <= now || family.expires_at <= now {
            return Ok(Rotation::Expired);
        }
        if let Some((_, used)) = refresh.tokens.get_mut(presented) {
            *used = Some(now);
        }
        let next = RefreshRecord {
            hash: next_hash.to_owned(),
            family: family.id.clone(),
            issued_at: now,
            expires_at: now.saturating_add(idle_ttl).min(family.expires_at),
        };
        refresh.tokens.insert(next.hash.clone(), (next, None));
        Ok(Rotation::Rotated { family })
    }

    async fn revoke_by_token(&self, token_hash: &str, now: u64) -> StoreResult<Option<Family>> {
        let mut refresh = lock(&self.refresh);
        let Some((record, _)) = refresh.tokens.get(token_hash) else {
            return Ok(None);
        };
        let family_id = record.family.clone();
        Ok(refresh.revoke(&family_id, now))
    }

    async fn revoke_family(&self, family_id: &str, now: u64) -> StoreResult<Option<Family>> {
        Ok(lock(&self.refresh).revoke(family_id, now))
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> StoreResult<Vec<Family>> {
        let mut refresh = lock(&self.refresh);
        let mut revoked = Vec::new();
        for (family, at) in refresh.families.values_mut() {
            if family.subject == subject && at.is_none() && family.expires_at > now {
                *at = Some(now);
                revoked.push(family.clone());
            }
        }
        Ok(revoked)
    }
}

impl Revoked {
    /// Purges expired entries once 1024 writes have happened since the last purge.
    fn maybe_purge(&mut self, now: u64) {
        if self.writes >= 1024 {
            self.writes = 0;
            self.tokens.retain(|_, until| *until > now);
            self.sessions.retain(|_, until| *until > now);
            self.subjects.retain(|_, (_, until)| *until > now);
        }
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke_token(&self, token_id: &str, until: u64) -> StoreResult<()> {
        let mut revoked = lock(&self.revoked);
        let entry = revoked.tokens.entry(token_id.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
        revoked.writes += 1;
        Ok(())
    }

    async fn revoke_session(&self, session_id: &str, until: u64) -> StoreResult<()> {
        let mut revoked = lock(&self.revoked);
        let entry = revoked
            .sessions
            .entry(session_id.to_owned())
            .or_insert(until);
        *entry = (*entry).max(until);
        revoked.writes += 1;
        Ok(())
    }

    async fn revoke_subject_before(&self, subject: &str, mark: u64, until: u64) -> StoreResult<()> {
        let mut revoked = lock(&self.revoked);
        let entry = revoked
            .subjects
            .entry(subject.to_owned())
            .or_insert((mark, until));
        *entry = (entry.0.max(mark), entry.1.max(until));
        revoked.writes += 1;
        Ok(())
    }

    async fn is_revoked(&self, query: RevocationQuery<'_>, now: u64) -> StoreResult<bool> {
        let mut revoked = lock(&self.revoked);
        revoked.maybe_purge(now);
        let live = |until: Option<&u64>| until.is_some_and(|until| *until > now);
        if query
            .token_id
            .is_some_and(|jti| live(revoked.tokens.get(jti)))
            || query
                .session_id
                .is_some_and(|sid| live(revoked.sessions.get(sid)))
        {
            return Ok(true);
        }
        Ok(match revoked.subjects.get(query.subject) {
            Some(&(mark, until)) if until > now => query.issued_at.is_none_or(|iat| iat <= mark),
            _ => false,
        })
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
}

#[cfg(feature = "assertion")]
#[async_trait]
impl crate::assertion::ReplayStore for MemoryStore {
    async fn first_use(&self, jti: &str, until: u64) -> StoreResult<bool> {
        let now = crate::clock::unix_secs(&crate::SystemClock);
        let mut replays = lock(&self.replays);
        if replays.len() >= 10_000 {
            replays.retain(|_, until| *until > now);
        }
        match replays.get(jti) {
            Some(&seen_until) if seen_until > now => Ok(false),
            _ => {
                replays.insert(jti.to_owned(), until);
                Ok(true)
            }
        }
    }
}
