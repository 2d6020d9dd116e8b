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

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};

use crate::algorithm::Algorithm;
use crate::error::ErrorKind;
use crate::json::{self, Members, Str};

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
/// anything: the token is refused with [`ErrorKind::InvalidClaim`]. Each kind of grant can be
/// held to one JSON shape ([`ClaimShape`]): an issuer that always sends `scope` as a string
/// then cannot be impersonated by a token whose `scope` is an array of the same words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    roles: Vec<ClaimPath>,
    scopes: Vec<ClaimPath>,
    permissions: Vec<ClaimPath>,
    shapes: [ClaimShape; 3],
}

/// The JSON shape a grant claim may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClaimShape {
    /// A string (split on spaces for scopes) or an array of strings: the default.
    #[default]
    StringOrArray,
    /// A string only (`"scope": "a b"`, `"role": "admin"`).
    String,
    /// An array of strings only (`"roles": ["a", "b"]`).
    Array,
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
            shapes: [ClaimShape::StringOrArray; 3],
        }
    }

    /// A mapping that reads nothing: principals have no roles, scopes or permissions.
    pub fn none() -> Self {
        Self {
            roles: Vec::new(),
            scopes: Vec::new(),
            permissions: Vec::new(),
            shapes: [ClaimShape::StringOrArray; 3],
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

    /// Holds role claims to one JSON shape; a token whose role claim has another is refused
    /// ([`ErrorKind::InvalidClaim`]).
    ///
    /// Defaults to [`ClaimShape::StringOrArray`].
    ///
    /// ```
    /// use authz_core::{Algorithm, ClaimMapping, ClaimShape, Issuer, KeySet, SigningKey, Verifier};
    /// use serde_json::json;
    ///
    /// let key = SigningKey::from_secret(Algorithm::HS256, b"an-example-secret-of-32-bytes-or-more")?;
    /// let verifier = Verifier::builder(KeySet::single(key.verifying_key()))
    ///     .with_claim_mapping(ClaimMapping::new().with_scopes_shape(ClaimShape::String))
    ///     .build()?;
    /// let issuer = Issuer::new(key);
    /// assert!(verifier.verify(&issuer.issue(&json!({"sub": "a", "scope": "read write"}))?).is_ok());
    /// assert!(verifier.verify(&issuer.issue(&json!({"sub": "a", "scope": ["read"]}))?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_roles_shape(mut self, shape: ClaimShape) -> Self {
        self.shapes[0] = shape;
        self
    }

    /// Holds scope claims to one JSON shape (OAuth 2.0's `scope` is a string, RFC 8693 §4.2).
    ///
    /// Defaults to [`ClaimShape::StringOrArray`].
    #[must_use]
    pub fn with_scopes_shape(mut self, shape: ClaimShape) -> Self {
        self.shapes[1] = shape;
        self
    }

    /// Holds permission claims to one JSON shape.
    ///
    /// Defaults to [`ClaimShape::StringOrArray`].
    #[must_use]
    pub fn with_permissions_shape(mut self, shape: ClaimShape) -> Self {
        self.shapes[2] = shape;
        self
    }

    /// Reads the mapped claims out of a verified token's claims (`json` is the claims text
    /// that `others` borrows from).
    pub(crate) fn extract(
        &self,
        json: &str,
        others: &Members<'_>,
    ) -> Result<Vec<(Grant, Text)>, ErrorKind> {
        let mut out = Vec::new();
        let sources = [
            (Grant::Role, &self.roles, false, self.shapes[0]),
            (Grant::Scope, &self.scopes, true, self.shapes[1]),
            (Grant::Permission, &self.permissions, false, self.shapes[2]),
        ];
        for (grant, paths, split, shape) in sources {
            for path in paths {
                let invalid = || ErrorKind::InvalidClaim(path.to_string());
                let Some(raw) = json::lookup(others, path.segments()).map_err(|_| invalid())?
                else {
                    continue;
                };
                let mut de = serde_json::Deserializer::from_str(raw.get());
                GrantSeed {
                    json,
                    grant,
                    split,
                    shape,
                    out: &mut out,
                }
                .deserialize(&mut de)
                .map_err(|_| invalid())?;
            }
        }
        Ok(out)
    }
}

/// What a string in a principal grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Role,
    Scope,
    Permission,
}

/// A string of the principal: a span of its claims text when the token did not escape it
/// (no copy), or a copy.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Span(u32, u32),
    Owned(Box<str>),
}

impl Text {
    /// `s` as a span of `json` if it lies inside it, else a copy.
    pub(crate) fn new(json: &str, s: &str) -> Self {
        let start = (s.as_ptr() as usize).checked_sub(json.as_ptr() as usize);
        let span = start.and_then(|start| {
            let end = start.checked_add(s.len())?;
            (end <= json.len() && json.is_char_boundary(start) && json.is_char_boundary(end))
                .then_some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
        });
        match span {
            Some((start, end)) => Self::Span(start, end),
            None => Self::Owned(s.into()),
        }
    }

    /// A borrowed string becomes a span, an unescaped copy stays a copy.
    #[allow(clippy::ptr_arg)] // the variant is the point: Borrowed means "inside `json`"
    pub(crate) fn from_cow(json: &str, s: &Cow<'_, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Self::new(json, s),
            Cow::Owned(s) => Self::Owned(s.as_str().into()),
        }
    }

    fn get<'a>(&'a self, json: &'a str) -> &'a str {
        match self {
            Self::Span(start, end) => json.get(*start as usize..*end as usize).unwrap_or_default(),
            Self::Owned(s) => s,
        }
    }
}

/// Pushes a string (split on spaces for scopes) or an array of strings into the grants.
struct GrantSeed<'o, 'j> {
    json: &'j str,
    grant: Grant,
    split: bool,
    shape: ClaimShape,
    out: &'o mut Vec<(Grant, Text)>,
}

impl GrantSeed<'_, '_> {
    fn push(&mut self, s: Cow<'_, str>) {
        if self.split {
            for part in s.split(' ').filter(|p| !p.is_empty()) {
                let text = match &s {
                    Cow::Borrowed(_) => Text::new(self.json, part),
                    Cow::Owned(_) => Text::Owned(part.into()),
                };
                self.out.push((self.grant, text));
            }
        } else {
            let text = Text::from_cow(self.json, &s);
            self.out.push((self.grant, text));
        }
    }
}

impl<'de> DeserializeSeed<'de> for GrantSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GrantSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_borrowed_str<E: de::Error>(mut self, v: &'de str) -> Result<(), E> {
        if self.shape == ClaimShape::Array {
            return Err(E::custom("an array was expected"));
        }
        self.push(Cow::Borrowed(v));
        Ok(())
    }
    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        if self.shape == ClaimShape::Array {
            return Err(E::custom("an array was expected"));
        }
        self.push(Cow::Owned(v.to_owned()));
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        if self.shape == ClaimShape::String {
            return Err(de::Error::custom("a string was expected"));
        }
        while let Some(Str(item)) = seq.next_element::<Str<'de>>()? {
            self.push(item);
        }
        Ok(())
    }
}

/// A verified caller: the subject, what it is granted, and the full claims.
///
/// Made by [`Verifier::verify`](crate::Verifier::verify); cheap to clone. See the
/// [module docs](crate::principal) for an example.
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

struct Inner {
    /// The verified claims text; the `Text` spans below point into it.
    json: String,
    subject: Text,
    issuer: Option<Text>,
    token_id: Option<Text>,
    expires_at: Option<f64>,
    issued_at: Option<f64>,
    grants: Vec<(Grant, Text)>,
    algorithm: Algorithm,
    key_id: Option<Arc<str>>,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject())
            .field("issuer", &self.issuer())
            .field("roles", &self.roles().collect::<Vec<_>>())
            .field("scopes", &self.scopes().collect::<Vec<_>>())
            .field("permissions", &self.permissions().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What the verifier hands over to build a principal.
pub(crate) struct PrincipalParts {
    pub(crate) json: String,
    pub(crate) subject: Text,
    pub(crate) issuer: Option<Text>,
    pub(crate) token_id: Option<Text>,
    pub(crate) expires_at: Option<f64>,
    pub(crate) issued_at: Option<f64>,
    pub(crate) grants: Vec<(Grant, Text)>,
    pub(crate) algorithm: Algorithm,
    pub(crate) key_id: Option<Arc<str>>,
}

impl Principal {
    pub(crate) fn from_parts(p: PrincipalParts) -> Self {
        Self(Arc::new(Inner {
            json: p.json,
            subject: p.subject,
            issuer: p.issuer,
            token_id: p.token_id,
            expires_at: p.expires_at,
            issued_at: p.issued_at,
            grants: p.grants,
            algorithm: p.algorithm,
            key_id: p.key_id,
        }))
    }

    fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        text.get(&self.0.json)
    }

    fn granted(&self, grant: Grant) -> impl Iterator<Item = &str> + '_ {
        self.0
            .grants
            .iter()
            .filter(move |(g, _)| *g == grant)
            .map(|(_, t)| self.text(t))
    }

    /// The `sub` claim: who this is (unique per issuer).
    pub fn subject(&self) -> &str {
        self.text(&self.0.subject)
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_ref().map(|t| self.text(t))
    }

    /// The `jti` claim (what revocation lists key on, with the issuer).
    pub fn token_id(&self) -> Option<&str> {
        self.0.token_id.as_ref().map(|t| self.text(t))
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
    pub fn roles(&self) -> impl Iterator<Item = &str> + '_ {
        self.granted(Grant::Role)
    }

    /// The scopes granted, in claim order.
    pub fn scopes(&self) -> impl Iterator<Item = &str> + '_ {
        self.granted(Grant::Scope)
    }

    /// The permissions granted, in claim order.
    pub fn permissions(&self) -> impl Iterator<Item = &str> + '_ {
        self.granted(Grant::Permission)
    }

    /// Whether `role` is granted (exact, case-sensitive).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }

    /// Whether `scope` is granted (exact, case-sensitive).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether `permission` is granted (exact, case-sensitive).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions().any(|p| p == permission)
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
        &self.0.json
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
        serde_json::from_str(&self.0.json)
    }

    /// One claim's value at `path` (top-level name or dotted path), if present.
    ///
    /// Returns `None` when absent, or when something on the path is not an object or has a
    /// duplicate member.
    pub fn claim(&self, path: &ClaimPath) -> Option<serde_json::Value> {
        let top = json::members(&self.0.json).ok()?;
        let raw = json::lookup(&top, path.segments()).ok()??;
        serde_json::from_str(raw.get()).ok()
    }
}
