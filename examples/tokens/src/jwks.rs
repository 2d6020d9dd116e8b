//! `authz jwks`: the public JWK Set of keys, for `/.well-known/jwks.json` or a verifier's
//! `--key`. Keys are named by their `kid`, or by their RFC 7638 thumbprint (as `keygen` and
//! `encode` name them); HMAC secrets are refused, never published.

use authz_axum::KeySet;
use serde_json::Value;

use crate::cli::JwksArgs;
use crate::keys::public_keys;
use crate::outcome::Failure;

/// `authz jwks`: pretty JSON, or one line with `--json`.
pub(crate) fn run(args: &JwksArgs, json: bool) -> Result<(), Failure> {
    let keys = public_keys(&args.files, args.alg)?;
    let set = KeySet::new(keys)
        .map_err(|e| Failure::input(format!("the keys do not make a key set: {e}")))?;
    let jwks = set.to_jwks_string();
    if json {
        println!("{jwks}");
    } else {
        let value: Value = serde_json::from_str(&jwks).unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or(jwks));
    }
    Ok(())
}
