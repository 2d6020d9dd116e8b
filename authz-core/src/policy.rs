//! Requirements a principal must meet: roles, scopes, permissions, claim values, `any`/`all`/
//! `not` of those, and custom checks (sync or async) the app writes.
//!
//! Evaluation says which part failed, so that a 403 can say what was missing (and list the
//! scopes for RFC 6750's `scope="…"`).
//!
//! # Example
//!
//! ```
//! use authz_core::{Algorithm, Issuer, KeySet, Requirement as R, SigningKey, Verifier};
//! use serde_json::json;
//!
//! let key = SigningKey::from_secret(Algorithm::HS256, b"an-example-secret-of-32-bytes-or-more")?;
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key())).build()?;
//! let token = Issuer::new(key).issue(&json!({"sub": "bob", "roles": ["editor"], "scope": "posts:read"}))?;
//! let bob = verifier.verify(&token)?;
//!
//! let can_publish = R::any([R::role("admin"), R::all([R::role("editor"), R::scope("posts:write")])]);
//! let denied = can_publish.evaluate(&bob).unwrap_err();
//! assert_eq!(denied.scopes(), ["posts:write"]);
//! assert!(R::all([R::role("editor"), R::not(R::role("banned"))]).evaluate(&bob).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::principal::{ClaimPath, Principal};

/// A boxed future, as async checks return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A custom synchronous check. Implemented for `Fn(&Principal) -> bool` closures.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a policy check",
    note = "a check is a `Fn(&Principal) -> bool + Send + Sync + 'static`"
)]
pub trait Check: Send + Sync + 'static {
    /// Whether `principal` passes.
    fn check(&self, principal: &Principal) -> bool;
}

impl<F> Check for F
where
    F: Fn(&Principal) -> bool + Send + Sync + 'static,
{
    fn check(&self, principal: &Principal) -> bool {
        self(principal)
    }
}

/// A custom asynchronous check (a database lookup, a call to a policy engine). Implemented for
/// `Fn(Principal) -> impl Future<Output = bool>` closures.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async policy check",
    note = "an async check is a `Fn(Principal) -> impl Future<Output = bool> + Send` that is `Send + Sync + 'static`"
)]
pub trait AsyncCheck: Send + Sync + 'static {
    /// Resolves to whether `principal` passes.
    fn check(&self, principal: &Principal) -> BoxFuture<'static, bool>;
}

impl<F, Fut> AsyncCheck for F
where
    F: Fn(Principal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    fn check(&self, principal: &Principal) -> BoxFuture<'static, bool> {
        Box::pin(self(principal.clone()))
    }
}

/// What a principal must have. Build with the constructors; see the
/// [module docs](crate::policy).
#[derive(Clone)]
#[non_exhaustive]
pub enum Requirement {
    /// Any verified principal.
    Authenticated,
    /// This role is granted.
    Role(String),
    /// This scope is granted.
    Scope(String),
    /// This permission is granted.
    Permission(String),
    /// The claim at this path equals this JSON value.
    Claim(ClaimPath, serde_json::Value),
    /// At least one of these (false when empty).
    Any(Vec<Requirement>),
    /// All of these (true when empty).
    All(Vec<Requirement>),
    /// Not this.
    Not(Box<Requirement>),
    /// A named synchronous check.
    Check(&'static str, Arc<dyn Check>),
    /// A named asynchronous check; needs [`Requirement::evaluate_async`].
    AsyncCheck(&'static str, Arc<dyn AsyncCheck>),
}

impl Requirement {
    /// Requires `role`.
    pub fn role(role: impl Into<String>) -> Self {
        Self::Role(role.into())
    }

    /// Requires `scope`.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::Scope(scope.into())
    }

    /// Requires `permission`.
    pub fn permission(permission: impl Into<String>) -> Self {
        Self::Permission(permission.into())
    }

    /// Requires the claim at `path` (e.g. `tenant` or `org.id`) to equal `value`.
    pub fn claim(path: &str, value: impl Into<serde_json::Value>) -> Self {
        Self::Claim(ClaimPath::new(path), value.into())
    }

    /// Requires at least one of `requirements`.
    pub fn any(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::Any(requirements.into_iter().collect())
    }

    /// Requires all of `requirements`.
    pub fn all(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::All(requirements.into_iter().collect())
    }

    /// Requires that `requirement` is not met.
    #[allow(clippy::should_implement_trait)]
    pub fn not(requirement: Requirement) -> Self {
        Self::Not(Box::new(requirement))
    }

    /// A custom check, named for messages and logs.
    pub fn check(name: &'static str, check: impl Check) -> Self {
        Self::Check(name, Arc::new(check))
    }

    /// A custom async check, named for messages and logs.
    pub fn check_async(name: &'static str, check: impl AsyncCheck) -> Self {
        Self::AsyncCheck(name, Arc::new(check))
    }

    /// Whether evaluating needs [`evaluate_async`](Self::evaluate_async).
    pub fn is_async(&self) -> bool {
        match self {
            Self::AsyncCheck(..) => true,
            Self::Any(rs) | Self::All(rs) => rs.iter().any(Self::is_async),
            Self::Not(r) => r.is_async(),
            _ => false,
        }
    }

    /// Evaluates the requirement for `principal`.
    ///
    /// An async check met here fails closed (denied); use
    /// [`evaluate_async`](Self::evaluate_async) when [`is_async`](Self::is_async).
    ///
    /// # Errors
    ///
    /// [`Denied`], naming the part that failed.
    pub fn evaluate(&self, principal: &Principal) -> Result<(), Denied> {
        match self {
            Self::Any(rs) => any(rs.iter().map(|r| r.evaluate(principal)), self),
            Self::All(rs) => rs.iter().try_for_each(|r| r.evaluate(principal)),
            Self::Not(r) => not(r.evaluate(principal), self),
            Self::AsyncCheck(..) => Err(Denied::of(self)),
            leaf => leaf.leaf(principal),
        }
    }

    /// Evaluates the requirement, awaiting async checks (in order, stopping early).
    ///
    /// # Errors
    ///
    /// [`Denied`], naming the part that failed.
    pub fn evaluate_async<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(async move {
            match self {
                Self::Any(rs) => {
                    let mut results = Vec::with_capacity(rs.len());
                    for r in rs {
                        let result = r.evaluate_async(principal).await;
                        let passed = result.is_ok();
                        results.push(result);
                        if passed {
                            break;
                        }
                    }
                    any(results.into_iter(), self)
                }
                Self::All(rs) => {
                    for r in rs {
                        r.evaluate_async(principal).await?;
                    }
                    Ok(())
                }
                Self::Not(r) => not(r.evaluate_async(principal).await, self),
                Self::AsyncCheck(_, check) => {
                    if check.check(principal).await {
                        Ok(())
                    } else {
                        Err(Denied::of(self))
                    }
                }
                leaf => leaf.leaf(principal),
            }
        })
    }

    fn leaf(&self, p: &Principal) -> Result<(), Denied> {
        let ok = match self {
            Self::Authenticated => true,
            Self::Role(role) => p.has_role(role),
            Self::Scope(scope) => p.has_scope(scope),
            Self::Permission(permission) => p.has_permission(permission),
            Self::Claim(path, value) => p.claim(path).as_ref() == Some(value),
            Self::Check(_, check) => check.check(p),
            _ => false,
        };
        if ok { Ok(()) } else { Err(Denied::of(self)) }
    }

    fn scopes(&self, out: &mut Vec<String>) {
        match self {
            Self::Scope(s) if !out.contains(s) => out.push(s.clone()),
            Self::Any(rs) | Self::All(rs) => rs.iter().for_each(|r| r.scopes(out)),
            _ => {}
        }
    }
}

fn any(
    results: impl Iterator<Item = Result<(), Denied>>,
    this: &Requirement,
) -> Result<(), Denied> {
    let mut scopes = Vec::new();
    for result in results {
        match result {
            Ok(()) => return Ok(()),
            Err(denied) => scopes.extend(
                denied
                    .scopes
                    .into_iter()
                    .filter(|s| !scopes.contains(s))
                    .collect::<Vec<_>>(),
            ),
        }
    }
    Err(Denied {
        failed: this.to_string(),
        scopes,
    })
}

fn not(inner: Result<(), Denied>, this: &Requirement) -> Result<(), Denied> {
    match inner {
        Ok(()) => Err(Denied {
            failed: this.to_string(),
            scopes: Vec::new(),
        }),
        Err(_) => Ok(()),
    }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Written the way `#[require_auth(...)]` spells it: `any(role = "admin", scope = "x")`.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, rs: &[Requirement]| {
            write!(f, "{name}(")?;
            for (i, r) in rs.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{r}")?;
            }
            f.write_str(")")
        };
        match self {
            Self::Authenticated => f.write_str("authenticated"),
            Self::Role(r) => write!(f, "role = {r:?}"),
            Self::Scope(s) => write!(f, "scope = {s:?}"),
            Self::Permission(p) => write!(f, "permission = {p:?}"),
            Self::Claim(path, value) => write!(f, "claim({path} = {value})"),
            Self::Any(rs) => list(f, "any", rs),
            Self::All(rs) => list(f, "all", rs),
            Self::Not(r) => write!(f, "not({r})"),
            Self::Check(name, _) | Self::AsyncCheck(name, _) => write!(f, "policy = {name}"),
        }
    }
}

/// Why a principal was refused: the requirement that failed, and the scopes that would have
/// satisfied it (for `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    failed: String,
    scopes: Vec<String>,
}

impl Denied {
    /// A denial by a check outside [`Requirement`] (e.g. an app's policy function), named
    /// as it should appear in messages (`policy = is_owner`).
    pub fn new(failed: impl Into<String>) -> Self {
        Self {
            failed: failed.into(),
            scopes: Vec::new(),
        }
    }

    fn of(requirement: &Requirement) -> Self {
        let mut scopes = Vec::new();
        requirement.scopes(&mut scopes);
        Self {
            failed: requirement.to_string(),
            scopes,
        }
    }

    /// The failing requirement, written as in the macro (`role = "admin"`).
    pub fn requirement(&self) -> &str {
        &self.failed
    }

    /// Scopes that would have satisfied the failing part (empty if scopes were not asked).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Insufficient permissions: requires {}", self.failed)
    }
}

impl std::error::Error for Denied {}
