//! `authz verify` and `authz decode`: the verifier built from the options, run once.
//!
//! `explain` builds its verifier here too ([`Settings::verifier`]), so the two never disagree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authz_axum::{FixedClock, KeySet, Principal, Verifier};
use serde_json::{Value, json};

use crate::cli::{DecodeArgs, VerifyArgs};
use crate::inspect::{Unverified, token_arg};
use crate::outcome::Failure;
use crate::time::{numeric_date, relative, rfc3339};

/// A verifier configuration and the instant it checks at.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The trusted keys.
    pub(crate) keys: KeySet,
    /// The instant time claims are checked at (`--now`, or the time the command started).
    pub(crate) now: f64,
}

impl Settings {
    /// The keys and the instant of `args`: `None` when no key was given.
    pub(crate) fn from_args(args: &VerifyArgs) -> Result<Option<Self>, Failure> {
        let now = match args.now {
            Some(now) => now as f64,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        };
        Ok(args.key.verifying_keys()?.map(|keys| Self { keys, now }))
    }

    /// The verifier `args` describe, with a clock stopped at [`Settings::now`].
    pub(crate) fn verifier(&self, args: &VerifyArgs) -> Result<Verifier, Failure> {
        let mut builder = Verifier::builder(self.keys.clone())
            .with_clock(FixedClock::at(
                UNIX_EPOCH + Duration::from_secs_f64(self.now),
            ))
            .with_leeway(Duration::from_secs(args.leeway))
            .with_required_claims(args.required.iter().map(String::as_str));
        for issuer in &args.issuers {
            builder = builder.with_issuer(issuer);
        }
        for audience in &args.audiences {
            builder = builder.with_audience(audience);
        }
        if let Some(typ) = &args.typ {
            builder = builder.with_typ(typ);
        }
        if let Some(max) = args.max_lifetime {
            builder = builder.with_max_lifetime(max);
        }
        if args.insecure_any_audience {
            builder = builder.insecure_accept_any_audience();
        }
        if args.insecure_allow_missing_exp {
            builder = builder.insecure_allow_missing_exp();
        }
        builder
            .build()
            .map_err(|e| Failure::input(format!("verifier settings: {e}")))
    }
}

/// The keys `args` name, or the error that says how to give one.
fn required_settings(args: &VerifyArgs) -> Result<Settings, Failure> {
    Settings::from_args(args)?.ok_or_else(|| {
        Failure::input(format!(
            "no key to verify with: give --key FILE or set {}",
            crate::keys::DEFAULT_SECRET_ENV
        ))
    })
}

/// `authz verify`.
pub(crate) fn run(args: &VerifyArgs, json: bool) -> Result<(), Failure> {
    let token = token_arg(&args.token)?;
    let settings = required_settings(args)?;
    let principal = settings.verifier(args)?.verify(&token)?;
    if json {
        println!("{}", summary(&principal));
    } else {
        println!("valid: {}", describe(&principal, settings.now));
    }
    Ok(())
}

/// `authz decode`: header and claims, verified (or `--insecure`, not).
pub(crate) fn decode(args: &DecodeArgs, json: bool) -> Result<(), Failure> {
    let token = token_arg(&args.verify.token)?;
    let unverified = Unverified::read(&token);
    if args.insecure {
        if !args.verify.key.files.is_empty() || args.verify.key.secret_env.is_some() {
            return Err(Failure::input(
                "--insecure decodes without verifying: drop --key/--secret-env, or drop --insecure to verify",
            ));
        }
        let header = unverified.header?;
        let claims = unverified.claims?;
        if json {
            println!(
                "{}",
                json!({"verified": false, "header": header, "claims": claims})
            );
        } else {
            println!("header: {}", Value::Object(header));
            println!("claims: {}", Value::Object(claims));
            println!("NOT VERIFIED (--insecure): anyone can write these claims");
        }
        return Ok(());
    }
    let settings = Settings::from_args(&args.verify)?.ok_or_else(|| {
        Failure::input(format!(
            "no key to verify with: give --key FILE or set {}, or decode without verifying \
             with --insecure",
            crate::keys::DEFAULT_SECRET_ENV
        ))
    })?;
    let principal = settings.verifier(&args.verify)?.verify(&token)?;
    // Verified: the header read above is the one the signature covers.
    let header = unverified.header?;
    let claims: Value = serde_json::from_str(principal.claims_json()).unwrap_or_default();
    if json {
        println!(
            "{}",
            json!({"verified": true, "header": header, "claims": claims})
        );
    } else {
        println!("header: {}", Value::Object(header));
        println!("claims: {claims}");
        println!("verified: {}", describe(&principal, settings.now));
    }
    Ok(())
}

/// A verified token in one line: subject, key, expiry.
pub(crate) fn describe(principal: &Principal, now: f64) -> String {
    let mut line = format!(
        "sub {:?}, {} key",
        principal.subject(),
        principal.algorithm()
    );
    if let Some(kid) = principal.key_id() {
        line.push_str(&format!(" {kid:?}"));
    }
    if let Some(exp) = principal.expires_at() {
        line.push_str(&format!(
            ", expires {} ({})",
            rfc3339(exp),
            relative(exp, now)
        ));
    }
    line
}

/// A verified token for scripts.
fn summary(principal: &Principal) -> Value {
    json!({
        "valid": true,
        "sub": principal.subject(),
        "alg": principal.algorithm().as_str(),
        "kid": principal.key_id(),
        "exp": principal.expires_at().map(numeric_date),
        "roles": principal.roles().collect::<Vec<_>>(),
        "scopes": principal.scopes().collect::<Vec<_>>(),
        "claims": serde_json::from_str::<Value>(principal.claims_json()).unwrap_or_default(),
    })
}
