//! `#[require_auth(...)]`: guards an axum handler, where it is written. Depend on
//! [`authz-axum`](https://docs.rs/authz-axum), which re-exports this attribute and provides
//! the `AuthLayer` it needs.

mod attr;
mod expand;
mod route;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use proc_macro::TokenStream;

/// Guards an axum handler: the request must carry a token verified by `AuthLayer`, and its
/// principal must meet the requirement, else 401 (no or bad token), 403 (requirement not
/// met) or 500 (no `AuthLayer` on the route: fail closed, logged).
///
/// The handler stays as written — attributes, visibility, generics, arguments, return type,
/// body; one hidden extractor argument is prepended, so it composes with `State`, `Path`,
/// `Query`, `Json`, `Form`, `#[axum::debug_handler]` and `#[tracing::instrument]`. The
/// requirement is compiled into code and built once; nothing is parsed per request. Items
/// separated by commas must all hold.
///
/// Put `#[require_auth]` above `#[axum::debug_handler]` (attributes expand top-down, and the
/// debug checks must see the guard argument; the other order gives a misleading E0061 about
/// the number of arguments). Use it on free `async fn`s, not on methods in an `impl` block.
///
/// With `#[utoipa::path(...)]`, put `#[require_auth]` above it: with authz-axum's `openapi`
/// feature, the operation then gets its security and refusal responses, found by the route
/// read from utoipa's attribute (`authz_axum::openapi`). The other order works by operation
/// id. Either way the handler keeps serving the same.
///
/// **The hidden guard.** The argument the attribute adds is of type
/// `authz_axum::__private::Guard<__authz_guard_HANDLER>`; rustc names it when a handler does
/// not satisfy axum's `Handler` trait (E0277). The usual cause is an extractor that reads the
/// body (`Json`, `Form`, `Bytes`, `String`, …) before another argument: the attribute catches
/// that one by name and says "must be the handler's last argument".
///
/// ```
/// use authz_axum::{Auth, require_auth};
///
/// #[require_auth]
/// async fn me(Auth(user): Auth) -> String { user.subject().to_owned() }
///
/// #[require_auth(role = "admin")]
/// async fn admin() -> &'static str { "admin area" }
/// ```
///
/// # `role = "…"`, `scope = "…"`, `permission = "…"`
///
/// The principal has that role, scope or permission (exact match).
///
/// # `roles(any = [...])`, `roles(all = [...])` (and `scopes`, `permissions`)
///
/// At least one / every one of the names.
///
/// # `claim(name = value)`
///
/// The claim equals a string, number or bool literal: `claim(tenant = "acme")`,
/// `claim("org.id" = 42)` for a nested path.
///
/// # `any(...)`, `all(...)`, `not(...)`
///
/// Combine the above, nested as deep as needed:
/// `any(role = "admin", all(role = "editor", scope = "posts:write"))`.
///
/// # `policy = path::to::check`
///
/// An app-written async check, run after the rest passed, with the principal and the request
/// parts (so it can extract `Path`, `State` extensions, …):
///
/// ```
/// use authz_axum::{Principal, require_auth};
/// use axum::http::request::Parts;
///
/// async fn is_owner(principal: &Principal, parts: &mut Parts) -> bool {
///     parts.uri.path().ends_with(principal.subject())
/// }
///
/// #[require_auth(role = "user", policy = is_owner)]
/// async fn profile() -> &'static str { "yours" }
/// ```
///
/// # `quota = "N/sec|min|hour|day"`
///
/// A token bucket per caller (`sub`) for this handler, spent after the requirement and the
/// policy passed: over it, 429 with `Retry-After` and `RateLimit-*`, through the layer's
/// `on_rejection`. Spent in the AuthLayer's quota store: this process's memory by default,
/// or a shared store (Redis) given with `AuthLayer::with_quota_store` (see
/// `authz_axum::quota`).
///
/// ```
/// # use authz_axum::require_auth;
/// #[require_auth(role = "user", quota = "30/min")]
/// async fn search() -> &'static str { "results" }
/// ```
///
/// # Errors at compile time
///
/// Each mistake gets a message that shows the right form (tested in `tests/ui/fail/*.stderr`):
///
/// | written | message |
/// | --- | --- |
/// | `fn` without `async` | `#[require_auth]` can only be applied to `async fn`s |
/// | `roles = ["a", "b"]` | `roles(any = ["a", "b"])` or `roles(all = ["a", "b"])` |
/// | `"admin"` | a requirement names its kind: `role = "admin"` |
/// | `role = admin` | `role` takes a string: `role = "admin"` |
/// | `Json(..)` before `Auth(..)` | `Json` reads the request body, so it must be the handler's last argument |
/// | an unknown key | the list of valid keys |
///
/// ```compile_fail
/// #[authz_axum::require_auth(role = "admin")]
/// fn not_async() {} // `#[require_auth]` can only be applied to `async fn`s
/// ```
#[proc_macro_attribute]
pub fn require_auth(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    let expanded = syn::parse::<attr::RequireAuthArgs>(attr).and_then(|args| {
        let function = syn::parse::<syn::ItemFn>(item).map_err(|_| {
            syn::Error::new_spanned(
                &original,
                "`#[require_auth]` can only be applied to functions",
            )
        })?;
        expand::expand(args, function)
    });
    match expanded {
        Ok(tokens) => tokens.into(),
        // Keep the item so that callers and the IDE see no secondary errors.
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(original);
            tokens.into()
        }
    }
}

/// Declares an axum handler open to everyone, on purpose: the counterpart of
/// `#[require_auth]` for the route manifest (`authz_axum::manifest`), which reports every
/// route as guarded, public or **undeclared**, and can fail a test or a start-up on the last.
///
/// It adds one hidden extractor argument that does nothing on a real request (one lookup in
/// the request's extensions) and answers the manifest's probe, so the handler stays as
/// written otherwise. It takes no arguments.
///
/// ```
/// use authz_axum::public;
///
/// #[public]
/// async fn health() -> &'static str { "ok" }
/// ```
///
/// ```compile_fail
/// #[authz_axum::public(role = "admin")]
/// async fn health() -> &'static str { "ok" } // `#[public]` takes no arguments
/// ```
#[proc_macro_attribute]
pub fn public(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    let expanded = if attr.is_empty() {
        syn::parse::<syn::ItemFn>(item)
            .map_err(|_| {
                syn::Error::new_spanned(&original, "`#[public]` can only be applied to functions")
            })
            .and_then(expand::expand_public)
    } else {
        Err(syn::Error::new(
            proc_macro2::TokenStream::from(attr)
                .into_iter()
                .next()
                .map_or_else(proc_macro2::Span::call_site, |token| token.span()),
            "`#[public]` takes no arguments; to guard a handler, use `#[require_auth(...)]`",
        ))
    };
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(original);
            tokens.into()
        }
    }
}
