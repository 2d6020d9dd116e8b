//! Extractors that read what [`AuthLayer`](super::AuthLayer) left in the request.

use std::ops::Deref;

use authz_core::Principal;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::config::AuthState;
use super::rejection::AuthRejection;

/// The verified [`Principal`] of the request; 401 when the request is anonymous.
///
/// `Option<Auth>` gives `None` for anonymous requests instead (optional mode). On a route
/// without [`AuthLayer`](crate::AuthLayer) both fail closed with a 500 and a log line that
/// names the missing layer.
///
/// ```
/// use authz_axum::Auth;
///
/// async fn me(Auth(user): Auth) -> String {
///     format!("hello {}", user.subject())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl Deref for Auth {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// The verified claims typed into the app's own struct; 401 when anonymous or when the claims
/// do not fit `T` (code `claims_mismatch`).
///
/// ```
/// use authz_axum::Claims;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct MyClaims { sub: String, tenant: String }
///
/// async fn tenant(Claims(claims): Claims<MyClaims>) -> String {
///     format!("{} of {}", claims.sub, claims.tenant)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

/// The rejection of [`Auth`] and [`Claims`]: renders through the app's
/// [`on_rejection`](crate::AuthLayer::on_rejection) hook when the layer is there.
#[derive(Debug)]
pub struct ExtractRejection(Box<Response>);

impl ExtractRejection {
    pub(crate) fn new(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for ExtractRejection {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The layer's state, or the fail-closed 500 that names the missing layer.
pub(crate) fn state(parts: &Parts) -> Result<&AuthState, ExtractRejection> {
    parts.extensions.get::<AuthState>().ok_or_else(|| {
        tracing::error!(
            target: "authz_axum::rejection",
            code = "auth_layer_missing",
            path = %parts.uri.path(),
            "authz: no AuthLayer on this route; perhaps you forgot \
             `.layer(AuthLayer::new(verifier))` on the router. Refusing the request."
        );
        ExtractRejection::new(AuthRejection::MissingLayer.to_response(""))
    })
}

fn principal(parts: &Parts) -> Result<Option<(&AuthState, Principal)>, ExtractRejection> {
    let state = state(parts)?;
    Ok(state.principal.clone().map(|p| (state, p)))
}

fn anonymous(parts: &Parts) -> ExtractRejection {
    match state(parts) {
        Ok(state) => ExtractRejection::new(state.config.reject(AuthRejection::MissingToken)),
        Err(missing) => missing,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match principal(parts)? {
            Some((_, p)) => Ok(Auth(p)),
            None => Err(anonymous(parts)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(principal(parts)?.map(|(_, p)| Auth(p)))
    }
}

fn typed<T: DeserializeOwned>(state: &AuthState, p: &Principal) -> Result<T, ExtractRejection> {
    p.claims::<T>()
        .map_err(|_| ExtractRejection::new(state.config.reject(AuthRejection::ClaimsMismatch)))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match principal(parts)? {
            Some((state, p)) => typed(state, &p).map(Claims),
            None => Err(anonymous(parts)),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for Claims<T> {
    type Rejection = ExtractRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        match principal(parts)? {
            Some((state, p)) => typed(state, &p).map(|c| Some(Claims(c))),
            None => Ok(None),
        }
    }
}
