//! Seed 000, part 1, in Rust: encode and decode tokens as the PyJWT tutorial does, with the
//! checks the tutorial leaves out.
//!
//! ```text
//! cargo run -p tokens                          # the tutorial's session, replayed
//! cargo run -p tokens -- encode alice admin    # a token for alice with role admin
//! cargo run -p tokens -- decode <TOKEN>        # verify it and print its claims
//! cargo run -p tokens -- keygen ES256          # a new key pair: private PEM + public JWKS
//! ```
//!
//! `encode` and `decode` use the HS256 secret in `AUTHZ_SECRET` (its bytes as given, at least
//! 32), so that tokens made here work against any service that shares the secret.

use std::process::ExitCode;
use std::time::Duration;

use authz_axum::{
    Algorithm, FixedClock, Issuer, KeySet, SigningKey, SystemClock, Verifier, generate_secret,
};
use serde_json::json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("demo") => demo(),
        Some("encode") => encode(&args[1..]),
        Some("decode") => decode(&args[1..]),
        Some("keygen") => keygen(&args[1..]),
        Some(_) => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: tokens [demo | encode SUBJECT [ROLE...] | decode TOKEN | keygen ALG]";

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

fn secret_key() -> Result<SigningKey, String> {
    let secret = std::env::var("AUTHZ_SECRET")
        .map_err(|_| "set AUTHZ_SECRET to the HS256 secret (at least 32 bytes)".to_owned())?;
    SigningKey::from_secret(Algorithm::HS256, secret.as_bytes())
        .map_err(|e| format!("AUTHZ_SECRET: {e}"))
}

fn encode(args: &[String]) -> Result<(), String> {
    let (subject, roles) = args.split_first().ok_or(USAGE)?;
    let token = Issuer::new(secret_key()?)
        .with_ttl(Duration::from_secs(3600))
        .issue(&json!({"sub": subject, "roles": roles}))
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}

fn decode(args: &[String]) -> Result<(), String> {
    let [token] = args else {
        return Err(USAGE.to_owned());
    };
    let verifier = Verifier::builder(KeySet::single(secret_key()?.verifying_key()))
        .with_clock(SystemClock)
        .build()
        .map_err(|e| e.to_string())?;
    let principal = verifier
        .verify(token)
        .map_err(|e| format!("error[{}]: {e}", e.code()))?;
    println!("{}", principal.claims_json());
    Ok(())
}

fn keygen(args: &[String]) -> Result<(), String> {
    let [alg] = args else {
        return Err(USAGE.to_owned());
    };
    let alg: Algorithm = alg.parse().map_err(|e| format!("{e}"))?;
    if alg.is_symmetric() {
        let secret = generate_secret(alg).map_err(|e| e.to_string())?;
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        println!("{hex}");
        return Ok(());
    }
    let key = SigningKey::generate(alg)
        .map_err(|e| e.to_string())?
        .with_kid("key-1");
    let private = key.to_pkcs8_pem().ok_or("no private key")?;
    print!("{}", *private);
    println!("{}", KeySet::single(key.verifying_key()).to_jwks_string());
    Ok(())
}
