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

/// What a principal must have: roles, scopes, permissions, claim values, `any`/`all`/`not` of
/// those, and custom checks. Build with the constructors; see the [module docs](crate::policy).
///
/// A requirement is compiled when it is built: each part keeps the [`Denied`] it answers
/// with, so evaluating one allocates nothing and formats nothing, even when it refuses.
/// Cheap to clone.
#[derive(Clone)]
pub struct Requirement(Arc<Node>);

struct Node {
    rule: Rule,
    /// What this part answers when it fails, made once.
    denied: Denied,
}

enum Rule {
    Authenticated,
    Role(String),
    Scope(String),
    Permission(String),
    Claim(ClaimPath, serde_json::Value),
    Any(Vec<Requirement>),
    All(Vec<Requirement>),
    Not(Requirement),
    Check(&'static str, Arc<dyn Check>),
    AsyncCheck(&'static str, Arc<dyn AsyncCheck>),
}

/// The outcome of a synchronous evaluation: an async check makes its part undecided, and
/// no combinator turns "undecided" into "met".
enum Verdict<'a> {
    Met,
    Unmet(Denied),
    /// The first async check met on the way, for the message.
    Undecided(&'a Requirement),
}

impl Node {
    /// The refusal of a synchronous evaluation that met this async check.
    fn undecided(&self) -> Denied {
        let mut text = self.denied.requirement().to_owned();
        text.push_str(" (an async check: use `evaluate_async`)");
        let mut denied = Denied::with_scopes(text, Vec::new());
        if let Some(inner) = Arc::get_mut(&mut denied.0) {
            inner.needs_async = true;
        }
        denied
    }
}

impl Requirement {
    fn new(rule: Rule) -> Self {
        let mut scopes = Vec::new();
        rule.scopes(&mut scopes);
        let failed = RuleText(&rule).to_string();
        Self(Arc::new(Node {
            denied: Denied::with_scopes(failed, scopes),
            rule,
        }))
    }

    /// Any verified principal.
    pub fn authenticated() -> Self {
        Self::new(Rule::Authenticated)
    }

    /// Requires `role`.
    pub fn role(role: impl Into<String>) -> Self {
        Self::new(Rule::Role(role.into()))
    }

    /// Requires `scope`.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::new(Rule::Scope(scope.into()))
    }

    /// Requires `permission`.
    pub fn permission(permission: impl Into<String>) -> Self {
        Self::new(Rule::Permission(permission.into()))
    }

    /// Requires the claim at `path` (e.g. `tenant` or `org.id`) to equal `value`.
    pub fn claim(path: &str, value: impl Into<serde_json::Value>) -> Self {
        Self::new(Rule::Claim(ClaimPath::new(path), value.into()))
    }

    /// Requires at least one of `requirements` (never met when empty).
    pub fn any(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::new(Rule::Any(requirements.into_iter().collect()))
    }

    /// Requires all of `requirements` (always met when empty).
    pub fn all(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::new(Rule::All(requirements.into_iter().collect()))
    }

    /// Requires that `requirement` is not met.
    #[allow(clippy::should_implement_trait)]
    pub fn not(requirement: Requirement) -> Self {
        Self::new(Rule::Not(requirement))
    }

    /// A custom check, named for messages and logs.
    pub fn check(name: &'static str, check: impl Check) -> Self {
        Self::new(Rule::Check(name, Arc::new(check)))
    }

    /// A custom async check, named for messages and logs.
    ///
    /// Deprecated: custom async checks have one form, the handler's policy function —
    /// `#[require_auth(policy = path)]` in authz-axum, an `async fn(&Principal, &mut Parts) ->
    /// bool` that also sees the request — or, without a framework, your own async code after
    /// [`evaluate`](Self::evaluate). A requirement is then declarative and decided at once.
    #[deprecated(
        since = "0.2.0",
        note = "write the async check as a policy function: `#[require_auth(policy = path)]`, or await it after `evaluate`"
    )]
    pub fn check_async(name: &'static str, check: impl AsyncCheck) -> Self {
        Self::new(Rule::AsyncCheck(name, Arc::new(check)))
    }

    /// What this requirement is made of, one level deep: for tools that describe it
    /// elsewhere (an OpenAPI document, a route manifest) rather than evaluate it.
    ///
    /// ```
    /// use authz_core::Requirement as R;
    /// use authz_core::policy::Shape;
    ///
    /// let r = R::any([R::role("admin"), R::scope("posts:write")]);
    /// let Shape::Any(parts) = r.shape() else { unreachable!() };
    /// assert!(matches!(parts[1].shape(), Shape::Scope("posts:write")));
    /// ```
    pub fn shape(&self) -> Shape<'_> {
        match &self.0.rule {
            Rule::Authenticated => Shape::Authenticated,
            Rule::Role(r) => Shape::Role(r),
            Rule::Scope(s) => Shape::Scope(s),
            Rule::Permission(p) => Shape::Permission(p),
            Rule::Claim(path, value) => Shape::Claim(path, value),
            Rule::Any(rs) => Shape::Any(rs),
            Rule::All(rs) => Shape::All(rs),
            Rule::Not(r) => Shape::Not(r),
            Rule::Check(name, _) => Shape::Check(name),
            Rule::AsyncCheck(name, _) => Shape::Check(name),
        }
    }

    /// Whether evaluating needs [`evaluate_async`](Self::evaluate_async).
    pub fn is_async(&self) -> bool {
        match &self.0.rule {
            Rule::AsyncCheck(..) => true,
            Rule::Any(rs) | Rule::All(rs) => rs.iter().any(Self::is_async),
            Rule::Not(r) => r.is_async(),
            _ => false,
        }
    }

    fn denied(&self) -> Denied {
        self.0.denied.clone()
    }

    /// Evaluates the requirement for `principal`, without awaiting anything.
    ///
    /// A part that needs an async check can't be decided here. It is neither met nor unmet:
    /// `not(...)` of it is undecided too, `any(...)` is met only by a part that is decided and
    /// met, and `all(...)` fails only on a part that is decided and unmet. A requirement that
    /// stays undecided is refused ([`Denied::needs_async`] is then `true`): use
    /// [`evaluate_async`](Self::evaluate_async) when [`is_async`](Self::is_async).
    ///
    /// # Errors
    ///
    /// [`Denied`], naming the part that failed (or the async part that could not be run).
    pub fn evaluate(&self, principal: &Principal) -> Result<(), Denied> {
        match self.decide(principal) {
            Verdict::Met => Ok(()),
            Verdict::Unmet(denied) => Err(denied),
            Verdict::Undecided(node) => Err(node.0.undecided()),
        }
    }

    /// The synchronous, three-valued evaluation behind [`evaluate`](Self::evaluate).
    fn decide(&self, principal: &Principal) -> Verdict<'_> {
        match &self.0.rule {
            Rule::Any(rs) => {
                let mut undecided = None;
                let mut results = Vec::new();
                for r in rs {
                    match r.decide(principal) {
                        Verdict::Met => return Verdict::Met,
                        Verdict::Unmet(denied) => results.push(Err(denied)),
                        Verdict::Undecided(node) => undecided = undecided.or(Some(node)),
                    }
                }
                match undecided {
                    Some(node) => Verdict::Undecided(node),
                    None => match self.any_of(results.into_iter()) {
                        Ok(()) => Verdict::Met,
                        Err(denied) => Verdict::Unmet(denied),
                    },
                }
            }
            Rule::All(rs) => {
                let mut undecided = None;
                for r in rs {
                    match r.decide(principal) {
                        Verdict::Met => {}
                        Verdict::Unmet(denied) => return Verdict::Unmet(denied),
                        Verdict::Undecided(node) => undecided = undecided.or(Some(node)),
                    }
                }
                undecided.map_or(Verdict::Met, Verdict::Undecided)
            }
            Rule::Not(r) => match r.decide(principal) {
                Verdict::Met => Verdict::Unmet(self.denied()),
                Verdict::Unmet(_) => Verdict::Met,
                undecided @ Verdict::Undecided(_) => undecided,
            },
            Rule::AsyncCheck(..) => Verdict::Undecided(self),
            _ => match self.leaf(principal) {
                Ok(()) => Verdict::Met,
                Err(denied) => Verdict::Unmet(denied),
            },
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
            match &self.0.rule {
                Rule::Any(rs) => {
                    let mut results = Vec::with_capacity(rs.len());
                    for r in rs {
                        let result = r.evaluate_async(principal).await;
                        let passed = result.is_ok();
                        results.push(result);
                        if passed {
                            break;
                        }
                    }
                    self.any_of(results.into_iter())
                }
                Rule::All(rs) => {
                    for r in rs {
                        r.evaluate_async(principal).await?;
                    }
                    Ok(())
                }
                Rule::Not(r) => self.not_of(r.evaluate_async(principal).await),
                Rule::AsyncCheck(_, check) => {
                    if check.check(principal).await {
                        Ok(())
                    } else {
                        Err(self.denied())
                    }
                }
                _ => self.leaf(principal),
            }
        })
    }

    fn leaf(&self, p: &Principal) -> Result<(), Denied> {
        let ok = match &self.0.rule {
            Rule::Authenticated => true,
            Rule::Role(role) => p.has_role(role),
            Rule::Scope(scope) => p.has_scope(scope),
            Rule::Permission(permission) => p.has_permission(permission),
            Rule::Claim(path, value) => p.claim(path).as_ref() == Some(value),
            Rule::Check(_, check) => check.check(p),
            _ => false,
        };
        if ok { Ok(()) } else { Err(self.denied()) }
    }

    /// `any(...)` failed when every part failed: the denial names the whole `any`, with the
    /// scopes of the parts' own denials. Those are this node's (made once) unless an `all`
    /// inside failed on a part without scopes.
    fn any_of(&self, results: impl Iterator<Item = Result<(), Denied>>) -> Result<(), Denied> {
        let mut scopes: Vec<String> = Vec::new();
        for result in results {
            match result {
                Ok(()) => return Ok(()),
                Err(denied) => {
                    for scope in denied.scopes() {
                        if !scopes.contains(scope) {
                            scopes.push(scope.clone());
                        }
                    }
                }
            }
        }
        if scopes[..] == *self.0.denied.scopes() {
            Err(self.denied())
        } else {
            Err(Denied::with_scopes(
                self.0.denied.requirement().to_owned(),
                scopes,
            ))
        }
    }

    fn not_of(&self, inner: Result<(), Denied>) -> Result<(), Denied> {
        match inner {
            Ok(()) => Err(self.denied()),
            Err(_) => Ok(()),
        }
    }
}

impl Rule {
    /// The scopes that would satisfy this part: its `scope` leaves, outside `not`.
    fn scopes(&self, out: &mut Vec<String>) {
        match self {
            Self::Scope(s) if !out.contains(s) => out.push(s.clone()),
            Self::Any(rs) | Self::All(rs) => rs.iter().for_each(|r| r.0.rule.scopes(out)),
            _ => {}
        }
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
        f.write_str(self.0.denied.requirement())
    }
}

/// Formats a rule from its parts (once, when the requirement is built).
struct RuleText<'a>(&'a Rule);

impl fmt::Display for RuleText<'_> {
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
        match self.0 {
            Rule::Authenticated => f.write_str("authenticated"),
            Rule::Role(r) => write!(f, "role = {r:?}"),
            Rule::Scope(s) => write!(f, "scope = {s:?}"),
            Rule::Permission(p) => write!(f, "permission = {p:?}"),
            Rule::Claim(path, value) => write!(f, "claim({path} = {value})"),
            Rule::Any(rs) => list(f, "any", rs),
            Rule::All(rs) => list(f, "all", rs),
            Rule::Not(r) => write!(f, "not({r})"),
            Rule::Check(name, _) | Rule::AsyncCheck(name, _) => write!(f, "policy = {name}"),
        }
    }
}

/// One level of a [`Requirement`], from [`Requirement::shape`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Shape<'a> {
    /// Any verified principal.
    Authenticated,
    /// This role.
    Role(&'a str),
    /// This scope.
    Scope(&'a str),
    /// This permission.
    Permission(&'a str),
    /// The claim at this path equals this value.
    Claim(&'a ClaimPath, &'a serde_json::Value),
    /// At least one of these.
    Any(&'a [Requirement]),
    /// Every one of these.
    All(&'a [Requirement]),
    /// Not this one.
    Not(&'a Requirement),
    /// A custom check (sync or async), by the name it was given.
    Check(&'static str),
}

/// Why a principal was refused: the requirement that failed, and the scopes that would have
/// satisfied it (for `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`).
///
/// Made once per part of a [`Requirement`] and shared: cloning one is a reference count.
#[derive(Clone)]
pub struct Denied(Arc<DeniedText>);

struct DeniedText {
    /// `Insufficient permissions: requires <failed>`; `failed` is its tail.
    message: Box<str>,
    failed_at: usize,
    scopes: Box<[String]>,
    /// Refused because a synchronous evaluation met an async check.
    needs_async: bool,
}

const DENIED_PREFIX: &str = "Insufficient permissions: requires ";

impl Denied {
    /// A denial by a check outside [`Requirement`] (e.g. an app's policy function), named
    /// as it should appear in messages (`policy = is_owner`).
    pub fn new(failed: impl Into<String>) -> Self {
        Self::with_scopes(failed.into(), Vec::new())
    }

    fn with_scopes(failed: String, scopes: Vec<String>) -> Self {
        let mut message = String::with_capacity(DENIED_PREFIX.len() + failed.len());
        message.push_str(DENIED_PREFIX);
        message.push_str(&failed);
        Self(Arc::new(DeniedText {
            message: message.into(),
            failed_at: DENIED_PREFIX.len(),
            scopes: scopes.into(),
            needs_async: false,
        }))
    }

    /// The failing requirement, written as in the macro (`role = "admin"`).
    pub fn requirement(&self) -> &str {
        &self.0.message[self.0.failed_at..]
    }

    /// Scopes that would have satisfied the failing part (empty if scopes were not asked).
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Whether this refusal comes from [`Requirement::evaluate`] meeting an async check it
    /// could not run (the requirement may well be met: evaluate it with
    /// [`Requirement::evaluate_async`]).
    pub fn needs_async(&self) -> bool {
        self.0.needs_async
    }

    /// The human message, `Insufficient permissions: requires role = "admin"` (what
    /// `to_string()` gives, without formatting it again).
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl PartialEq for Denied {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.message == other.0.message && self.0.scopes == other.0.scopes)
    }
}

impl Eq for Denied {}

impl std::hash::Hash for Denied {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.message.hash(state);
        self.0.scopes.hash(state);
    }
}

impl fmt::Debug for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Denied")
            .field("requirement", &self.requirement())
            .field("scopes", &self.scopes())
            .finish()
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Denied {}
