//! Verification behaviour users rely on: every algorithm round-trips, key selection by `kid`,
//! time checks at their boundaries, issuer/audience/typ/required claims, claim mapping,
//! policies, and the PyJWT-style messages.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod common;

use std::time::Duration;

use authz_core::{
    Algorithm, ClaimMapping, ErrorKind, FixedClock, Issuer, KeySet, Requirement as R, SigningKey,
    Verifier,
};
use common::*;
use serde::Deserialize;
use serde_json::json;

fn verifier_for(key: &SigningKey) -> Verifier {
    Verifier::builder(KeySet::single(key.verifying_key()))
        .with_clock(clock())
        .build()
        .expect("verifier")
}

#[test]
fn every_algorithm_round_trips_through_the_verifier() {
    let rsa = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    for alg in Algorithm::ALL {
        let key = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => SigningKey::from_pem(alg, rsa.as_bytes()).unwrap(),
            _ => SigningKey::generate(alg).unwrap(),
        }
        .with_kid(format!("kid-{alg}"));
        let token = Issuer::new(key.clone())
            .with_clock(clock())
            .issue(&json!({"sub": "alice", "roles": ["admin"]}))
            .unwrap();
        let principal = verifier_for(&key).verify(&token).unwrap();
        assert_eq!(principal.subject(), "alice", "{alg}");
        assert_eq!(principal.algorithm(), alg);
        assert_eq!(principal.key_id(), Some(format!("kid-{alg}").as_str()));
        assert!(principal.has_role("admin"));
        assert!(
            principal.token_id().is_some_and(|jti| jti.len() == 22),
            "128-bit jti"
        );
        assert_eq!(principal.issued_at(), Some(NOW as f64));
        assert_eq!(principal.expires_at(), Some((NOW + 300) as f64));
    }
}

#[test]
fn key_set_selects_by_kid_and_requires_it_with_several_keys() {
    let a = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("a");
    let b = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("b");
    let set = KeySet::new([a.verifying_key(), b.verifying_key()]).unwrap();
    let v = Verifier::builder(set).with_clock(clock()).build().unwrap();
    for key in [&a, &b] {
        let token = Issuer::new(key.clone())
            .with_clock(clock())
            .issue_for("alice")
            .unwrap();
        assert_eq!(v.verify(&token).unwrap().key_id(), key.kid());
    }
    let no_kid =
        SigningKey::from_pem(Algorithm::ES256, a.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    let token = Issuer::new(no_kid)
        .with_clock(clock())
        .issue_for("alice")
        .unwrap();
    let err = v.verify(&token).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::MissingKeyId);
    assert_eq!(err.code(), "missing_kid");
    let c = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("c");
    let token = Issuer::new(c)
        .with_clock(clock())
        .issue_for("alice")
        .unwrap();
    assert_eq!(
        v.verify(&token).unwrap_err().kind(),
        &ErrorKind::UnknownKeyId
    );
}

#[test]
fn expiry_boundary_and_leeway() {
    let clock = FixedClock::at_unix(NOW);
    let strict = builder()
        .with_clock(clock.clone())
        .with_leeway(Duration::ZERO)
        .build()
        .unwrap();
    let lenient = builder().with_clock(clock.clone()).build().unwrap();
    let token = hs(&format!(r#"{{"sub":"a","exp":{}}}"#, NOW + 10));
    clock.set(std::time::UNIX_EPOCH + secs(NOW + 9));
    assert!(strict.verify(&token).is_ok());
    clock.set(std::time::UNIX_EPOCH + secs(NOW + 10));
    let err = strict.verify(&token).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Expired,
        "at exp the token is expired"
    );
    assert_eq!(err.to_string(), "Signature has expired");
    clock.set(std::time::UNIX_EPOCH + secs(NOW + 39));
    assert!(lenient.verify(&token).is_ok(), "30 s leeway by default");
    clock.set(std::time::UNIX_EPOCH + secs(NOW + 40));
    assert_eq!(
        lenient.verify(&token).unwrap_err().kind(),
        &ErrorKind::Expired
    );
}

#[test]
fn not_before_message_is_pyjwts() {
    let v = builder().with_leeway(Duration::ZERO).build().unwrap();
    let token = hs(&format!(
        r#"{{"sub":"a","exp":{},"nbf":{}}}"#,
        NOW + 30,
        NOW + 10
    ));
    let err = v.verify(&token).unwrap_err();
    assert_eq!(err.to_string(), "The token is not yet valid (nbf)");
    assert_eq!(err.code(), "token_not_yet_valid");
}

#[test]
fn leeway_over_a_minute_is_a_configuration_error() {
    assert!(builder().with_leeway(secs(61)).build().is_err());
    assert!(builder().with_leeway(secs(60)).build().is_ok());
}

#[test]
fn maximum_lifetime() {
    let v = builder().with_max_lifetime(secs(3600)).build().unwrap();
    let t = |iat: u64, exp: u64| hs(&format!(r#"{{"sub":"a","iat":{iat},"exp":{exp}}}"#));
    assert!(v.verify(&t(NOW, NOW + 3600)).is_ok());
    assert_eq!(
        v.verify(&t(NOW, NOW + 3601)).unwrap_err().kind(),
        &ErrorKind::LifetimeTooLong
    );
    // Without iat, the remaining lifetime counts.
    let no_iat = hs(&format!(r#"{{"sub":"a","exp":{}}}"#, NOW + 100_000));
    assert_eq!(
        v.verify(&no_iat).unwrap_err().kind(),
        &ErrorKind::LifetimeTooLong
    );
    let huge = hs(&format!(r#"{{"sub":"a","iat":{NOW},"exp":253402300799}}"#));
    assert_eq!(
        v.verify(&huge).unwrap_err().kind(),
        &ErrorKind::LifetimeTooLong
    );
}

#[test]
fn required_claims_and_missing_messages() {
    let v = builder()
        .with_required_claims(["jti", "tenant"])
        .build()
        .unwrap();
    let err = v.verify(&hs(&claims(r#""tenant":"t""#))).unwrap_err();
    assert_eq!(err.to_string(), "Token is missing the \"jti\" claim");
    assert_eq!(err.code(), "missing_claim");
    assert_eq!(
        v.verify(&hs(&claims(r#""jti":"x""#)))
            .unwrap_err()
            .to_string(),
        "Token is missing the \"tenant\" claim"
    );
    assert!(v.verify(&hs(&claims(r#""jti":"x","tenant":"t""#))).is_ok());
    let no_sub = hs(&format!(r#"{{"exp":{}}}"#, NOW + 60));
    assert_eq!(
        verifier().verify(&no_sub).unwrap_err().to_string(),
        "Token is missing the \"sub\" claim"
    );
    let no_exp = hs(r#"{"sub":"a"}"#);
    assert_eq!(
        verifier().verify(&no_exp).unwrap_err().to_string(),
        "Token is missing the \"exp\" claim"
    );
    let lax = builder().insecure_allow_missing_exp().build().unwrap();
    assert!(lax.verify(&no_exp).is_ok());
}

#[test]
fn several_issuers_and_audiences_may_be_accepted() {
    let v = builder()
        .with_issuer("https://a")
        .with_issuer("https://b")
        .with_audience("x")
        .with_audience("y")
        .build()
        .unwrap();
    assert!(
        v.verify(&hs(&claims(r#""iss":"https://b","aud":"y""#)))
            .is_ok()
    );
    assert!(
        v.verify(&hs(&claims(r#""iss":"https://a","aud":["z","x"]"#)))
            .is_ok()
    );
    let err = v
        .verify(&hs(&claims(r#""iss":"https://c","aud":"x""#)))
        .unwrap_err();
    assert_eq!(err.to_string(), "Invalid issuer");
    let err = v
        .verify(&hs(&claims(r#""iss":"https://a","aud":"z""#)))
        .unwrap_err();
    assert_eq!(err.to_string(), "Invalid audience");
}

#[test]
fn size_cap_is_configurable() {
    let token = hs(&claims(&format!(r#""pad":"{}""#, "x".repeat(600))));
    let small = builder().with_max_token_len(512).build().unwrap();
    assert_eq!(
        small.verify(&token).unwrap_err().kind(),
        &ErrorKind::TooLarge
    );
    assert!(verifier().verify(&token).is_ok());
}

#[test]
fn default_claim_mapping_reads_roles_scopes_and_permissions() {
    let token = hs(&claims(
        r#""roles":["editor","viewer"],"role":"admin","scope":"posts:read  posts:write","scp":["extra"],"permissions":["delete:posts"]"#,
    ));
    let p = verifier().verify(&token).unwrap();
    assert_eq!(p.roles().collect::<Vec<_>>(), ["editor", "viewer", "admin"]);
    assert_eq!(
        p.scopes().collect::<Vec<_>>(),
        ["posts:read", "posts:write", "extra"]
    );
    assert_eq!(p.permissions().collect::<Vec<_>>(), ["delete:posts"]);
    assert!(!p.has_role("Admin"), "case-sensitive");
}

#[test]
fn escaped_grants_are_unescaped() {
    let token = hs(&claims(
        r#""roles":["ad\u006din","a\"b"],"scope":"x\u0020y z""#,
    ));
    let p = verifier().verify(&token).unwrap();
    assert_eq!(p.roles().collect::<Vec<_>>(), ["admin", "a\"b"]);
    assert_eq!(p.scopes().collect::<Vec<_>>(), ["x", "y", "z"]);
    let escaped_sub = hs(&format!(
        r#"{{"sub":"al\u0069ce","iss":"i\/s","jti":"j","exp":{}}}"#,
        NOW + 60
    ));
    let p = verifier().verify(&escaped_sub).unwrap();
    assert_eq!(
        (p.subject(), p.issuer(), p.token_id()),
        ("alice", Some("i/s"), Some("j"))
    );
}

#[test]
fn nested_claim_paths_keycloak_style() {
    let mapping = ClaimMapping::new()
        .with_roles_from(["realm_access.roles", "resource_access.api.roles"])
        .with_scopes_from(["scope"]);
    let v = builder().with_claim_mapping(mapping).build().unwrap();
    let token = hs(&claims(
        r#""realm_access":{"roles":["user"]},"resource_access":{"api":{"roles":["admin"]}},"roles":["ignored"]"#,
    ));
    let p = v.verify(&token).unwrap();
    assert_eq!(p.roles().collect::<Vec<_>>(), ["user", "admin"]);
    // Duplicates inside a nested object on the path refuse the token.
    let dup = hs(&claims(
        r#""realm_access":{"roles":["user"],"roles":["admin"]}"#,
    ));
    assert_eq!(
        v.verify(&dup).unwrap_err().kind(),
        &ErrorKind::InvalidClaim("realm_access.roles".into())
    );
    // A path through a non-object grants nothing and refuses the token.
    let wrong = hs(&claims(r#""realm_access":["admin"]"#));
    assert!(v.verify(&wrong).is_err());
    // Absent paths simply grant nothing.
    assert!(v.verify(&hs(&claims(""))).unwrap().roles().next().is_none());
}

#[test]
fn typed_claims_into_the_apps_struct() {
    #[derive(Deserialize)]
    struct AppClaims {
        sub: String,
        tenant: String,
        plan: Option<String>,
    }
    let p = verifier()
        .verify(&hs(&claims(r#""tenant":"acme""#)))
        .unwrap();
    let c: AppClaims = p.claims().unwrap();
    assert_eq!(
        (c.sub.as_str(), c.tenant.as_str(), c.plan),
        ("alice", "acme", None)
    );
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Strict {
        tenant: u32,
    }
    assert!(p.claims::<Strict>().is_err());
}

#[test]
fn policies_evaluate_and_name_what_failed() {
    let token = hs(&claims(
        r#""roles":["editor"],"scope":"posts:read","permissions":["posts:delete"],"org":{"id":"acme"}"#,
    ));
    let p = verifier().verify(&token).unwrap();
    assert!(R::role("editor").evaluate(&p).is_ok());
    assert!(R::permission("posts:delete").evaluate(&p).is_ok());
    assert!(R::claim("org.id", "acme").evaluate(&p).is_ok());
    assert!(R::claim("org.id", "other").evaluate(&p).is_err());
    assert!(R::authenticated().evaluate(&p).is_ok());

    let denied = R::role("admin").evaluate(&p).unwrap_err();
    assert_eq!(denied.requirement(), r#"role = "admin""#);
    assert_eq!(
        denied.to_string(),
        r#"Insufficient permissions: requires role = "admin""#
    );
    assert!(denied.scopes().is_empty());

    let req = R::all([R::role("editor"), R::scope("posts:write")]);
    let denied = req.evaluate(&p).unwrap_err();
    assert_eq!(
        denied.requirement(),
        r#"scope = "posts:write""#,
        "the failing part"
    );
    assert_eq!(denied.scopes(), ["posts:write"]);

    let either = R::any([R::role("admin"), R::scope("posts:admin")]);
    let denied = either.evaluate(&p).unwrap_err();
    assert_eq!(
        denied.requirement(),
        r#"any(role = "admin", scope = "posts:admin")"#
    );
    assert_eq!(denied.scopes(), ["posts:admin"]);

    assert!(R::not(R::role("banned")).evaluate(&p).is_ok());
    assert_eq!(
        R::not(R::role("editor"))
            .evaluate(&p)
            .unwrap_err()
            .requirement(),
        r#"not(role = "editor")"#
    );
    assert!(
        R::any([]).evaluate(&p).is_err(),
        "an empty any grants nothing"
    );

    let custom = R::check("is_acme", |p: &authz_core::Principal| {
        p.claim(&"org.id".into()) == Some(json!("acme"))
    });
    assert!(custom.evaluate(&p).is_ok());
    let never = R::check("never", |_: &authz_core::Principal| false);
    assert_eq!(
        never.evaluate(&p).unwrap_err().requirement(),
        "policy = never"
    );
}

#[tokio::test]
#[allow(deprecated)] // `check_async` stays tested while it is deprecated
async fn async_checks_need_async_evaluation_and_fail_closed_otherwise() {
    let p = verifier().verify(&hs(&claims(""))).unwrap();
    let owner = R::check_async("is_owner", |p: authz_core::Principal| async move {
        tokio::task::yield_now().await;
        p.subject() == "alice"
    });
    assert!(owner.is_async());
    assert!(owner.evaluate_async(&p).await.is_ok());
    assert!(
        owner.evaluate(&p).is_err(),
        "sync evaluation of an async check is denied"
    );
    let mixed = R::all([R::authenticated(), R::not(owner.clone())]);
    assert!(mixed.is_async());
    assert_eq!(
        mixed.evaluate_async(&p).await.unwrap_err().requirement(),
        "not(policy = is_owner)"
    );
    let any = R::any([R::role("admin"), owner]);
    assert!(any.evaluate_async(&p).await.is_ok());
}

#[test]
fn issuer_fills_registered_claims_and_respects_given_ones() {
    let key = SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap();
    let issuer = Issuer::new(key.clone())
        .with_clock(clock())
        .with_issuer("https://iss")
        .with_audience("a")
        .with_audience("b")
        .with_typ("at+jwt")
        .with_ttl(secs(60));
    let token = issuer
        .issue(&json!({"sub": "alice", "jti": "fixed"}))
        .unwrap();
    let v = builder()
        .with_issuer("https://iss")
        .with_audience("b")
        .with_typ("at+jwt")
        .with_required_claims(["iat", "jti"])
        .build()
        .unwrap();
    let p = v.verify(&token).unwrap();
    assert_eq!(p.token_id(), Some("fixed"));
    assert_eq!(p.expires_at(), Some((NOW + 60) as f64));
    let claims: serde_json::Value = p.claims().unwrap();
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert!(issuer.issue(&json!(["not", "an", "object"])).is_err());
    assert_eq!(
        issuer.issue(&json!(3)).unwrap_err(),
        authz_core::IssueError::NotAnObject
    );
}
