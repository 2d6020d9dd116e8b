//! `authz demo`: seed 000's PyJWT session replayed — sign a token, verify it, fail with the
//! wrong key, fail once it has expired — with PyJWT's messages. The clock is injected, so
//! nobody waits the tutorial's 25 seconds.

use std::time::Duration;

use authz_axum::{Algorithm, FixedClock, Issuer, KeySet, SigningKey, Verifier, generate_secret};
use serde_json::json;

use crate::outcome::Failure;

/// `authz demo`.
pub(crate) fn run() -> Result<(), Failure> {
    demo().map_err(Failure::Input)
}

/// The tutorial's session: encode, decode, decode with the wrong key, expire.
fn demo() -> Result<(), String> {
    let secret = generate_secret(Algorithm::HS512).map_err(|e| e.to_string())?;
    let key = SigningKey::from_secret(Algorithm::HS512, &secret).map_err(|e| e.to_string())?;
    let clock = FixedClock::at(std::time::SystemTime::now());

    println!(">>> encode {{\"sub\": \"hesam\"}}, valid for 25 s, signed HS512");
    let token = Issuer::new(key.clone())
        .with_clock(clock.clone())
        .with_ttl(Duration::from_secs(25))
        .issue(&json!({"sub": "hesam", "username": "hesam"}))
        .map_err(|e| e.to_string())?;
    println!("{token}\n");

    let verifier = |key: SigningKey| {
        Verifier::builder(KeySet::single(key.verifying_key()))
            .with_clock(clock.clone())
            .with_leeway(Duration::ZERO)
            .build()
    };
    let ours = verifier(key).map_err(|e| e.to_string())?;

    println!(">>> decode with the right key");
    let principal = ours.verify(&token).map_err(|e| e.to_string())?;
    println!("{}\n", principal.claims_json());

    println!(">>> decode with the wrong key");
    let other_secret = generate_secret(Algorithm::HS512).map_err(|e| e.to_string())?;
    let other =
        SigningKey::from_secret(Algorithm::HS512, &other_secret).map_err(|e| e.to_string())?;
    match verifier(other).map_err(|e| e.to_string())?.verify(&token) {
        Ok(_) => return Err("a token verified with the wrong key".to_owned()),
        Err(err) => println!("error[{}]: {err}\n", err.code()),
    }

    println!(">>> after 25 seconds (the clock is moved, nobody waits)");
    clock.advance(Duration::from_secs(25));
    match ours.verify(&token) {
        Ok(_) => return Err("an expired token verified".to_owned()),
        Err(err) => println!("error[{}]: {err}", err.code()),
    }
    Ok(())
}
