//! The seed's `decorator/auth.py`: `#[require_auth]` is the decorator; this module builds the
//! verifier and the layer it relies on.

pub use authz_axum::require_auth;

use authz_axum::{AuthLayer, ClaimMapping, KeySet, Verifier};

use crate::config::{Config, Keys};

/// The layer for the whole API: optional mode (so `/health` stays public), Bearer tokens,
/// roles from `roles` (array) or `role` (string), scopes from the space-separated `scope`.
///
/// # Errors
///
/// If the verifier settings are out of range (e.g. a leeway over 60 s).
pub fn layer(config: &Config) -> Result<AuthLayer, String> {
    let keys = match &config.keys {
        Keys::Secret { key, .. } => KeySet::single(key.verifying_key()),
        Keys::Jwks(set) => set.clone(),
    };
    let mut verifier = Verifier::builder(keys)
        .with_leeway(config.leeway)
        .with_claim_mapping(
            ClaimMapping::none()
                .with_roles_from(["roles", "role"])
                .with_scopes_from(["scope"]),
        );
    if let Some(issuer) = &config.issuer {
        verifier = verifier.with_issuer(issuer);
    }
    if let Some(audience) = &config.audience {
        verifier = verifier.with_audience(audience);
    }
    let verifier = verifier.build().map_err(|e| e.to_string())?;
    Ok(AuthLayer::new(verifier).with_realm("apiv1"))
}
