//! What each `#[require_auth]` handler requires, as data: one [`GuardedHandler`] per handler,
//! written by the attribute next to it. The OpenAPI document ([`crate::openapi`]) is made
//! from these entries; so can any other description of the routes.
//!
//! With the `openapi` feature, the entries of every guarded handler linked into the program
//! are collected at link time (the `inventory` crate) and listed by [`all`].

use authz_core::Requirement;

/// One guarded handler: its name, where it is, its requirement, policy and quota, and what
/// `#[require_auth]` could read of the `#[utoipa::path(...)]` written below it.
///
/// Made by `#[require_auth]`; read it through its methods.
#[derive(Debug)]
pub struct GuardedHandler {
    name: &'static str,
    module: &'static str,
    requirement: fn() -> Option<&'static Requirement>,
    operation_id: Option<&'static str>,
    path: Option<&'static str>,
    methods: &'static [&'static str],
    policy: Option<&'static str>,
    quota: Option<&'static str>,
}

impl GuardedHandler {
    /// The entry of handler `name` in `module` (what `#[require_auth]` writes).
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        module: &'static str,
        requirement: fn() -> Option<&'static Requirement>,
    ) -> Self {
        Self {
            name,
            module,
            requirement,
            operation_id: None,
            path: None,
            methods: &[],
            policy: None,
            quota: None,
        }
    }

    /// An `operation_id = "…"` read from `#[utoipa::path]`.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_operation_id(mut self, operation_id: &'static str) -> Self {
        self.operation_id = Some(operation_id);
        self
    }

    /// The path and methods read from `#[utoipa::path]`.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_route(
        mut self,
        path: &'static str,
        methods: &'static [&'static str],
    ) -> Self {
        self.path = Some(path);
        self.methods = methods;
        self
    }

    /// `policy = name`.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_policy(mut self, policy: &'static str) -> Self {
        self.policy = Some(policy);
        self
    }

    /// `quota = "30/min"`, as written.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_quota(mut self, quota: &'static str) -> Self {
        self.quota = Some(quota);
        self
    }

    /// The handler function's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The module it is in (`module_path!()`).
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// Its requirement, or `None` for "any verified principal".
    pub fn requirement(&self) -> Option<&'static Requirement> {
        (self.requirement)()
    }

    /// The OpenAPI operation id: the `operation_id` written in `#[utoipa::path]` when
    /// `#[require_auth]` could read it, else the function's name (utoipa's default).
    pub fn operation_id(&self) -> &'static str {
        self.operation_id.unwrap_or(self.name)
    }

    /// The path written in `#[utoipa::path(path = "…")]`, when `#[require_auth]` is above it.
    pub fn path(&self) -> Option<&'static str> {
        self.path
    }

    /// The methods written in `#[utoipa::path(get, …)]` (lowercase), when `#[require_auth]`
    /// is above it.
    pub fn methods(&self) -> &'static [&'static str] {
        self.methods
    }

    /// The name of its `policy = …` function.
    pub fn policy(&self) -> Option<&'static str> {
        self.policy
    }

    /// Its `quota = "…"`, as written (`"30/min"`).
    pub fn quota(&self) -> Option<&'static str> {
        self.quota
    }
}

#[cfg(feature = "openapi")]
inventory::collect!(GuardedHandler);

/// Every guarded handler linked into this program, in no particular order.
#[cfg(feature = "openapi")]
pub fn all() -> impl Iterator<Item = &'static GuardedHandler> {
    inventory::iter::<GuardedHandler>.into_iter()
}

/// Registers a [`GuardedHandler`] where the `openapi` feature collects them, and does nothing
/// without it: `#[require_auth]` always writes the entry, and this switch, compiled in
/// authz-axum, decides (the generated code cannot test authz-axum's features itself).
#[cfg(feature = "openapi")]
#[doc(hidden)]
#[macro_export]
macro_rules! __authz_register_guarded {
    ($entry:expr) => {
        $crate::__private::inventory::submit! { $entry }
    };
}

/// Without the `openapi` feature, nothing is registered.
#[cfg(not(feature = "openapi"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __authz_register_guarded {
    ($entry:expr) => {};
}
