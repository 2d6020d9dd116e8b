//! Who made the request: the verified claims as a [`Principal`], with roles, scopes and
//! permissions read from configurable claims ([`ClaimMapping`]).
//!
//! # Example
//!
//! ```
//! use authz_core::{Algorithm, ClaimMapping, Issuer, KeySet, SigningKey, Verifier};
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! let key = SigningKey::from_secret(Algorithm::HS256, b"an-example-secret-of-32-bytes-or-more")?;
//! let token = Issuer::new(key.clone()).issue(&json!({
//!     "sub": "alice",
//!     "realm_access": { "roles": ["admin"] },   // Keycloak
//!     "scope": "posts:read posts:write",
//!     "tenant": "acme",
//! }))?;
//!
//! let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
//!     .with_claim_mapping(ClaimMapping::new().with_roles_from(["realm_access.roles"]))
//!     .build()?;
//! let principal = verifier.verify(&token)?;
//! assert_eq!(principal.subject(), "alice");
//! assert!(principal.has_role("admin"));
//! assert!(principal.has_scope("posts:write"));
//!
//! #[derive(Deserialize)]
//! struct MyClaims { tenant: String }
//! assert_eq!(principal.claims::<MyClaims>()?.tenant, "acme");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::algorithm::Algorithm;
use crate::error::ErrorKind;
use crate::json::{self, Members, OneOrMany};

/// A claim's location: a top-level name, or a dotted path into nested objects
/// (`realm_access.roles`). Names with dots cannot be addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    segments: Box<[String]>,
    dotted: Box<str>,
}

impl ClaimPath {
    /// Parses a dotted path. Empty segments are dropped.
    pub fn new(path: &str) -> Self {
        let segments: Box<[String]> = path
            .split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            dotted: segments.join(".").into(),
            segments,
        }
    }

    /// The path's segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The path as written, dots between segments.
    pub fn as_str(&self) -> &str {
        &self.dotted
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted)
    }
}

impl From<&str> for ClaimPath {
    fn from(path: &str) -> Self {
        Self::new(path)
    }
}

/// Where roles, scopes and permissions come from in the claims.
///
/// Defaults: roles from `roles` (array, or one string) and `role` (string); scopes from
/// `scope` (space-separated string, OAuth 2.0) and `scp` (array); permissions from
/// `permissions` (array, as Auth0 issues them). Every source that is present is read and the
/// values are merged.
///
/// A claim of the wrong type (a number, an object, an array with a non-string) never grants
/// anything: the token is refused with [`ErrorKind::InvalidClaim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    roles: Vec<ClaimPath>,
    scopes: Vec<ClaimPath>,
    permissions: Vec<ClaimPath>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self::new()
    }
}

impl ClaimMapping {
    /// The default mapping described above.
    pub fn new() -> Self {
        Self {
            roles: vec!["roles".into(), "role".into()],
            scopes: vec!["scope".into(), "scp".into()],
            permissions: vec!["permissions".into()],
        }
    }

    /// A mapping that reads nothing: principals have no roles, scopes or permissions.
    pub fn none() -> Self {
        Self {
            roles: Vec::new(),
            scopes: Vec::new(),
            permissions: Vec::new(),
        }
    }

    /// Reads roles from these paths instead (e.g. `["realm_access.roles"]`).
    #[must_use]
    pub fn with_roles_from<'a>(mut self, paths: impl IntoIterator<Item = &'a str>) -> Self {
        self.roles = paths.into_iter().map(ClaimPath::new).collect();
        self
    }

    /// Reads scopes from these paths instead. A string value is split on spaces.
    #[must_use]
    pub fn with_scopes_from<'a>(mut self, paths: impl IntoIterator<Item = &'a str>) -> Self {
        self.scopes = paths.into_iter().map(ClaimPath::new).collect();
        self
    }

    /// Reads permissions from these paths instead.
    #[must_use]
    pub fn with_permissions_from<'a>(mut self, paths: impl IntoIterator<Item = &'a str>) -> Self {
        self.permissions = paths.into_iter().map(ClaimPath::new).collect();
        self
    }

    /// Reads the mapped claims out of a verified token's claims.
    pub(crate) fn extract(&self, others: &Members<'_>) -> Result<Grants, ErrorKind> {
        Ok(Grants {
            roles: collect(others, &self.roles, false)?,
            scopes: collect(others, &self.scopes, true)?,
            permissions: collect(others, &self.permissions, false)?,
        })
    }
}

pub(crate) struct Grants {
    pub(crate) roles: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) permissions: Vec<String>,
}

fn collect(
    others: &Members<'_>,
    paths: &[ClaimPath],
    split: bool,
) -> Result<Vec<String>, ErrorKind> {
    let mut out = Vec::new();
    for path in paths {
        let invalid = || ErrorKind::InvalidClaim(path.to_string());
        let Some(raw) = json::lookup(others, path.segments()).map_err(|_| invalid())? else {
            continue;
        };
        match serde_json::from_str::<OneOrMany<'_>>(raw.get()).map_err(|_| invalid())? {
            OneOrMany::One(s) if split => {
                out.extend(s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
            }
            OneOrMany::One(s) => out.push(s.into_owned()),
            OneOrMany::Many(items) => out.extend(items.into_iter().map(|s| s.into_owned())),
        }
    }
    Ok(out)
}

/// A verified caller: the subject, what it is granted, and the full claims.
///
/// Made by [`Verifier::verify`](crate::Verifier::verify); cheap to clone. See the
/// [module docs](crate::principal) for an example.
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

struct Inner {
    subject: String,
    issuer: Option<String>,
    token_id: Option<String>,
    expires_at: Option<f64>,
    issued_at: Option<f64>,
    roles: Vec<String>,
    scopes: Vec<String>,
    permissions: Vec<String>,
    algorithm: Algorithm,
    key_id: Option<String>,
    claims_json: Box<str>,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.0.subject)
            .field("issuer", &self.0.issuer)
            .field("roles", &self.0.roles)
            .field("scopes", &self.0.scopes)
            .field("permissions", &self.0.permissions)
            .finish_non_exhaustive()
    }
}

/// What the verifier hands over to build a principal.
pub(crate) struct PrincipalParts {
    pub(crate) subject: String,
    pub(crate) issuer: Option<String>,
    pub(crate) token_id: Option<String>,
    pub(crate) expires_at: Option<f64>,
    pub(crate) issued_at: Option<f64>,
    pub(crate) grants: Grants,
    pub(crate) algorithm: Algorithm,
    pub(crate) key_id: Option<String>,
    pub(crate) claims_json: Box<str>,
}

impl Principal {
    pub(crate) fn from_parts(p: PrincipalParts) -> Self {
        Self(Arc::new(Inner {
            subject: p.subject,
            issuer: p.issuer,
            token_id: p.token_id,
            expires_at: p.expires_at,
            issued_at: p.issued_at,
            roles: p.grants.roles,
            scopes: p.grants.scopes,
            permissions: p.grants.permissions,
            algorithm: p.algorithm,
            key_id: p.key_id,
            claims_json: p.claims_json,
        }))
    }

    /// The `sub` claim: who this is (unique per issuer).
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_deref()
    }

    /// The `jti` claim (what revocation lists key on, with the issuer).
    pub fn token_id(&self) -> Option<&str> {
        self.0.token_id.as_deref()
    }

    /// The `exp` claim, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> Option<f64> {
        self.0.expires_at
    }

    /// The `iat` claim, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<f64> {
        self.0.issued_at
    }

    /// The roles granted, in claim order.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }

    /// The scopes granted.
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// The permissions granted.
    pub fn permissions(&self) -> &[String] {
        &self.0.permissions
    }

    /// Whether `role` is granted (exact, case-sensitive).
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }

    /// Whether `scope` is granted (exact, case-sensitive).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// Whether `permission` is granted (exact, case-sensitive).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.0.permissions.iter().any(|p| p == permission)
    }

    /// The algorithm the token was signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.0.algorithm
    }

    /// The `kid` of the key that verified the token.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }

    /// The verified claims as JSON text, exactly as signed.
    pub fn claims_json(&self) -> &str {
        &self.0.claims_json
    }

    /// The verified claims, typed into the app's own struct.
    ///
    /// Top-level duplicate claims were already refused by the verifier; `serde`'s derived
    /// structs refuse duplicate fields below that. Avoid `#[serde(flatten)]`, which turns
    /// that check off.
    ///
    /// # Errors
    ///
    /// If the claims do not fit `T`.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0.claims_json)
    }

    /// One claim's value at `path` (top-level name or dotted path), if present.
    ///
    /// Returns `None` when absent, or when something on the path is not an object or has a
    /// duplicate member.
    pub fn claim(&self, path: &ClaimPath) -> Option<serde_json::Value> {
        let top = json::members(&self.0.claims_json).ok()?;
        let raw = json::lookup(&top, path.segments()).ok()??;
        serde_json::from_str(raw.get()).ok()
    }
}
