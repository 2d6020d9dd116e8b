//! `zen keygen`: an RSA key pair for a client, registered with the keyserver's directory.

use std::path::Path;

use authz_axum::{Algorithm, SigningKey};

use crate::keyserver::valid_identity;

/// Writes `client.key` (PKCS#8 PEM) and `client.key.pub` (SPKI PEM) in the working
/// directory, and the public key as `keys/<identity>.pem`.
///
/// # Errors
///
/// An invalid identity, or a file that cannot be written.
pub fn run(identity: &str) -> Result<(), String> {
    if !valid_identity(identity) {
        return Err("the identity must be 1 to 64 of A-Z a-z 0-9 . _ -".into());
    }
    let key = SigningKey::generate(Algorithm::RS256).map_err(|e| e.to_string())?;
    let private = key.to_pkcs8_pem().ok_or("cannot export the private key")?;
    let public = key
        .verifying_key()
        .to_pem()
        .ok_or("cannot export the public key")?;
    write("client.key", private.as_bytes())?;
    write("client.key.pub", public.as_bytes())?;
    std::fs::create_dir_all("keys").map_err(|e| format!("keys/: {e}"))?;
    let registered = format!("keys/{identity}.pem");
    write(&registered, public.as_bytes())?;
    println!("wrote client.key, client.key.pub and {registered}");
    Ok(())
}

fn write(path: &str, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(Path::new(path), bytes).map_err(|e| format!("{path}: {e}"))
}
