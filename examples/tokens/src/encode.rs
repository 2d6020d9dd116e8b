//! `authz encode`: PyJWT's `jwt.encode(payload, key, algorithm)`, with the registered claims
//! an [`Issuer`] adds (`iat`, `exp`, `jti`) and the key's `kid` in the header.

use std::io::Read as _;

use authz_axum::Issuer;
use serde_json::{Map, Value, json};

use crate::cli::EncodeArgs;
use crate::outcome::Failure;

/// `authz encode`.
pub(crate) fn run(args: &EncodeArgs, json: bool) -> Result<(), Failure> {
    let claims = claims(args)?;
    let key = args.key.signing_key()?;
    let mut issuer = Issuer::new(key.clone()).with_ttl(args.ttl);
    if let Some(iss) = &args.iss {
        issuer = issuer.with_issuer(iss);
    }
    for aud in &args.audiences {
        issuer = issuer.with_audience(aud);
    }
    if let Some(typ) = &args.typ {
        issuer = issuer.with_typ(typ);
    }
    let token = issuer
        .issue(&claims)
        .map_err(|e| Failure::input(format!("cannot sign: {e}")))?;
    if json {
        println!(
            "{}",
            json!({"token": token, "alg": key.algorithm().as_str(), "kid": key.kid()})
        );
    } else {
        println!("{token}");
    }
    Ok(())
}

/// The claims to sign: `--claims`, then the flags over it.
fn claims(args: &EncodeArgs) -> Result<Map<String, Value>, Failure> {
    let mut claims = match &args.claims {
        None => Map::new(),
        Some(text) => match serde_json::from_str(&json_arg(text)?) {
            Ok(Value::Object(claims)) => claims,
            _ => return Err(Failure::input("--claims must be a JSON object")),
        },
    };
    if let Some(sub) = args.sub.as_ref().or(args.subject.as_ref()) {
        claims.insert("sub".into(), sub.as_str().into());
    }
    let roles: Vec<&str> = args
        .roles
        .iter()
        .chain(&args.role_flags)
        .map(String::as_str)
        .collect();
    if !roles.is_empty() {
        claims.insert("roles".into(), roles.into());
    }
    if !args.scopes.is_empty() {
        claims.insert("scope".into(), args.scopes.join(" ").into());
    }
    for flag in &args.claim_flags {
        let Some((name, value)) = flag.split_once('=') else {
            return Err(Failure::input(format!(
                "--claim {flag:?}: expected NAME=VALUE"
            )));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
        claims.insert(name.to_owned(), value);
    }
    if !claims.get("sub").is_some_and(Value::is_string) {
        return Err(Failure::input(
            "no subject: give SUBJECT, --sub, or \"sub\" in --claims (authz's verifier requires it)",
        ));
    }
    Ok(claims)
}

/// `--claims`' text: as given, `@FILE`, or `-` for standard input.
fn json_arg(text: &str) -> Result<String, Failure> {
    if text == "-" {
        let mut read = String::new();
        std::io::stdin().read_to_string(&mut read).map_err(|e| {
            Failure::input(format!("cannot read --claims from standard input: {e}"))
        })?;
        return Ok(read);
    }
    match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("cannot read {path}: {e}"))),
        None => Ok(text.to_owned()),
    }
}
