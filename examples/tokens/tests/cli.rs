//! Runs the built `authz` binary: each subcommand's happy path, each refusal's exit status and
//! PyJWT message, each input error's exit status, `--json`, and that no secret is printed.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod support;

use authz_axum::Algorithm;
use serde_json::{Value, json};
use support::{SECRET, Scratch};

const ISS: &str = "https://auth.example.com";
/// 2100-01-01: every token made now has expired by then.
const FAR_FUTURE: &str = "4102444800";

fn secret_env() -> [(&'static str, &'static str); 1] {
    [("AUTHZ_SECRET", SECRET)]
}

/// A key pair in `dir`: `es.pem` (private) and `es.jwks` (public); returns the kid.
fn es_key(dir: &Scratch) -> String {
    let jwk = dir.run(&["keygen", "ES256", "--out", "es.pem"]).ok();
    let jwks = dir.run(&["jwks", "es.pem"]).ok();
    std::fs::write(dir.path("es.jwks"), jwks).unwrap();
    let jwk: Value = serde_json::from_str(&jwk).unwrap();
    jwk["kid"].as_str().unwrap().to_owned()
}

fn token(dir: &Scratch, extra: &[&str]) -> String {
    let mut args = vec!["encode", "--key", "es.pem", "--iss", ISS, "--aud", "orders"];
    args.extend_from_slice(extra);
    args.push("alice");
    dir.run(&args).ok()
}

#[test]
fn demo_replays_the_tutorial() {
    let dir = Scratch::new("demo");
    let text = dir.run(&["demo"]).ok();
    assert!(text.contains(r#""sub":"hesam""#), "{text}");
    assert!(
        text.contains("error[invalid_signature]: Signature verification failed"),
        "{text}"
    );
    assert!(
        text.contains("error[token_expired]: Signature has expired"),
        "{text}"
    );
}

/// The positional form the apiv1 README uses: `encode SUBJECT ROLE...` with `AUTHZ_SECRET`.
#[test]
fn encode_then_decode_with_the_env_secret() {
    let dir = Scratch::new("env");
    let env = secret_env();
    let token = dir
        .run_with(&["encode", "alice", "admin", "user"], &env, None)
        .ok();
    assert_eq!(token.split('.').count(), 3);
    let out = dir.run_with(&["--json", "decode", &token], &env, None).ok();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["verified"], true);
    assert_eq!(out["header"]["alg"], "HS256");
    assert_eq!(out["claims"]["sub"], "alice");
    assert_eq!(out["claims"]["roles"], json!(["admin", "user"]));
    // One hour by default, as the seed's tokens example did.
    let (iat, exp) = (&out["claims"]["iat"], &out["claims"]["exp"]);
    assert_eq!(exp.as_u64().unwrap() - iat.as_u64().unwrap(), 3600);

    let text = dir.run_with(&["decode", &token], &env, None).ok();
    assert!(text.starts_with("header: {\"alg\":\"HS256\""), "{text}");
    assert!(text.contains("claims: {"), "{text}");
    assert!(
        text.contains("verified: sub \"alice\", HS256 key"),
        "{text}"
    );

    // The last signature character changed to another canonical one ('A' or 'Q').
    let last = if token.ends_with('A') { 'Q' } else { 'A' };
    let tampered = format!("{}{last}", &token[..token.len() - 1]);
    let out = dir.run_with(&["decode", &tampered], &env, None).status(1);
    assert_eq!(
        out.stderr.trim(),
        "error[invalid_signature]: Signature verification failed"
    );
}

#[test]
fn weak_or_missing_secret_is_an_input_error_that_never_echoes_it() {
    let dir = Scratch::new("weak");
    let out = dir
        .run_with(&["encode", "alice"], &[("AUTHZ_SECRET", "123456")], None)
        .status(2);
    assert!(out.stderr.contains("at least 32"), "{out:?}");
    assert!(!out.stderr.contains("123456") && !out.stdout.contains("123456"));

    let out = dir.run(&["encode", "alice"]).status(2);
    assert!(out.stderr.contains("give --key FILE"), "{out:?}");
    let out = dir.run(&["verify", "a.b.c"]).status(2);
    assert!(out.stderr.contains("no key to verify with"), "{out:?}");
    let out = dir.run(&["decode", "a.b.c"]).status(2);
    assert!(out.stderr.contains("--insecure"), "{out:?}");
}

/// `keygen` makes a key for every algorithm authz supports; it signs, and its JWKS verifies.
#[test]
fn keygen_every_algorithm_signs_and_verifies() {
    let dir = Scratch::new("keygen");
    for alg in Algorithm::ALL {
        let name = alg.as_str();
        let file = format!("{name}.key");
        let out = dir
            .run(&["--json", "keygen", name, "--out", &file])
            .status(0);
        let info = out.json();
        assert_eq!(info["alg"], name);
        #[cfg(unix)]
        assert_eq!(support::mode(&dir.path(&file)), 0o600, "{name}");
        let content = std::fs::read_to_string(dir.path(&file)).unwrap();
        assert!(
            !out.stdout.contains(content.trim()),
            "{name}: secret printed"
        );
        assert!(
            !out.stderr.contains(content.trim()),
            "{name}: secret printed"
        );

        let alg_flag: &[&str] = if alg.family() == authz_axum::core::KeyFamily::Rsa {
            &["--alg", name]
        } else {
            &[]
        };
        let mut encode = vec!["encode", "--key", &file, "--sub", "alice"];
        encode.extend_from_slice(alg_flag);
        let token = dir.run(&encode).ok();
        let header = dir.run(&["--json", "decode", "--insecure", &token]).json();
        assert_eq!(header["header"]["alg"], name);

        if alg.is_symmetric() {
            // No public half: the secret file verifies, and no kid was invented.
            assert_eq!(info["kid"], Value::Null);
            assert_eq!(info["public_jwk"], Value::Null);
            dir.run(&["verify", "--key", &file, &token]).ok();
            let out = dir.run(&["jwks", &file]).status(2);
            assert!(out.stderr.contains("never published"), "{out:?}");
        } else {
            // kid = the RFC 7638 thumbprint, in the printed JWK, the token and the JWKS.
            let kid = info["kid"].as_str().unwrap();
            assert_eq!(kid.len(), 43, "{name}");
            assert_eq!(info["public_jwk"]["kid"], kid);
            assert_eq!(header["header"]["kid"], kid);
            let mut jwks = vec!["jwks", &file];
            jwks.extend_from_slice(alg_flag);
            let jwks = dir.run(&jwks).ok();
            let set = authz_axum::KeySet::from_jwks(&jwks).unwrap();
            assert_eq!(set.get(kid).unwrap().algorithm(), alg);
            std::fs::write(dir.path("set.jwks"), &jwks).unwrap();
            dir.run(&["verify", "--key", "set.jwks", &token]).ok();
        }
    }
}

#[test]
fn keygen_formats_and_refusals() {
    let dir = Scratch::new("keygen-formats");
    // PEM: the public key on stdout, the private key in the file.
    let public = dir
        .run(&["keygen", "EdDSA", "--out", "ed.pem", "--format", "pem"])
        .ok();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    let private = std::fs::read_to_string(dir.path("ed.pem")).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    // Never overwritten without --force.
    let out = dir.run(&["keygen", "EdDSA", "--out", "ed.pem"]).status(2);
    assert!(out.stderr.contains("--force"), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path("ed.pem")).unwrap(),
        private
    );
    dir.run(&["keygen", "EdDSA", "--out", "ed.pem", "--force"])
        .status(0);
    assert_ne!(
        std::fs::read_to_string(dir.path("ed.pem")).unwrap(),
        private
    );
    // `--out -`: the private key on stdout, and nothing else.
    let out = dir.run(&["keygen", "ES384", "--out", "-"]).status(0);
    assert!(out.stdout.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(out.stdout.trim_end().ends_with("-----END PRIVATE KEY-----"));
    // An HMAC secret as text: hex of the hash size, used as given.
    dir.run(&["keygen", "HS384", "--out", "hs.txt", "--format", "pem"])
        .ok();
    let text = std::fs::read_to_string(dir.path("hs.txt")).unwrap();
    assert_eq!(text.trim().len(), 96);
    assert!(text.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    let token = dir
        .run_with(
            &["encode", "--secret-env", "S", "--alg", "HS384", "bob"],
            &[("S", text.trim())],
            None,
        )
        .ok();
    dir.run(&["verify", "--key", "hs.txt", "--alg", "HS384", &token])
        .ok();
    // An RSA key of another size; --bits is for RSA only.
    dir.run(&["keygen", "PS384", "--out", "rsa.pem", "--bits", "3072"])
        .status(0);
    dir.run(&["keygen", "ES256", "--out", "x.pem", "--bits", "3072"])
        .status(2);
    // An RSA key fits six algorithms: encode asks which.
    let out = dir.run(&["encode", "--key", "rsa.pem", "bob"]).status(2);
    assert!(out.stderr.contains("--alg"), "{out:?}");
    // Unknown algorithms are usage errors, with the list.
    let out = dir.run(&["keygen", "none", "--out", "n.pem"]).status(2);
    assert!(out.stderr.contains("HS256"), "{out:?}");
}

#[test]
fn encode_claims_from_json_and_flags() {
    let dir = Scratch::new("encode");
    es_key(&dir);
    std::fs::write(
        dir.path("claims.json"),
        r#"{"sub": "nobody", "tenant": "t1", "roles": ["x"]}"#,
    )
    .unwrap();
    let token = dir
        .run(&[
            "encode",
            "--key",
            "es.pem",
            "--claims",
            "@claims.json",
            "--sub",
            "alice",
            "--role",
            "admin",
            "--scope",
            "posts:read",
            "--scope",
            "posts:write",
            "--claim",
            "level=3",
            "--claim",
            "team=blue",
            "--aud",
            "a",
            "--aud",
            "b",
            "--typ",
            "at+jwt",
            "--ttl",
            "15m",
        ])
        .ok();
    let out = dir.run(&["--json", "decode", "--insecure", &token]).json();
    assert_eq!(out["verified"], false);
    let claims = &out["claims"];
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["tenant"], "t1");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["scope"], "posts:read posts:write");
    assert_eq!(claims["level"], 3);
    assert_eq!(claims["team"], "blue");
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    assert_eq!(out["header"]["typ"], "at+jwt");
    // Claims from standard input; `--json` gives the token, alg and kid.
    let out = dir.run_with(
        &["--json", "encode", "--key", "es.pem", "--claims", "-"],
        &[],
        Some(r#"{"sub": "carol", "exp": 4102444800}"#),
    );
    let out = out.status(0).json();
    assert_eq!(out["alg"], "ES256");
    let claims = dir
        .run(&[
            "--json",
            "decode",
            "--insecure",
            out["token"].as_str().unwrap(),
        ])
        .json();
    assert_eq!(claims["claims"]["exp"], 4_102_444_800_u64);
    // A token needs a subject; claims must be an object.
    let out = dir.run(&["encode", "--key", "es.pem"]).status(2);
    assert!(out.stderr.contains("no subject"), "{out:?}");
    dir.run(&["encode", "--key", "es.pem", "--claims", "[1]", "x"])
        .status(2);
    dir.run(&["encode", "--key", "es.jwks", "x"]).status(2);
}

#[test]
fn decode_insecure_reads_without_a_key_and_says_so() {
    let dir = Scratch::new("decode");
    es_key(&dir);
    let token = token(&dir, &[]);
    let text = dir.run(&["decode", "--insecure", &token]).ok();
    assert!(text.contains("\"sub\":\"alice\""), "{text}");
    assert!(text.contains("NOT VERIFIED"), "{text}");
    let out = dir
        .run(&["decode", "--insecure", "--key", "es.pem", &token])
        .status(2);
    assert!(out.stderr.contains("drop --key"), "{out:?}");
    let out = dir.run(&["decode", "--insecure", "abc"]).status(1);
    assert_eq!(
        out.stderr.trim(),
        "error[not_enough_segments]: Not enough segments"
    );
    // Verified, with the verifier's options.
    let text = dir
        .run(&["decode", "--key", "es.jwks", "--aud", "orders", &token])
        .ok();
    assert!(
        text.contains("verified: sub \"alice\", ES256 key"),
        "{text}"
    );
    let out = dir.run(&["decode", "--key", "es.jwks", &token]).status(1);
    assert_eq!(
        out.stderr.trim(),
        "error[invalid_audience]: Invalid audience"
    );
}

#[test]
fn verify_accepts_and_reads_the_token_from_stdin() {
    let dir = Scratch::new("verify-ok");
    let kid = es_key(&dir);
    let token = token(&dir, &["--typ", "at+jwt"]);
    let args = [
        "verify", "--key", "es.jwks", "--iss", ISS, "--aud", "orders", "--typ", "at+jwt",
    ];
    let mut with_token = args.to_vec();
    with_token.push(&token);
    let text = dir.run(&with_token).ok();
    assert!(
        text.starts_with(&format!(
            "valid: sub \"alice\", ES256 key \"{kid}\", expires "
        )),
        "{text}"
    );
    let mut from_stdin = args.to_vec();
    from_stdin.extend(["--json", "-"]);
    let out = dir
        .run_with(&from_stdin, &[], Some(&format!("{token}\n")))
        .status(0)
        .json();
    assert_eq!(out["valid"], true);
    assert_eq!(out["sub"], "alice");
    assert_eq!(out["kid"], kid.as_str());
    assert_eq!(out["claims"]["iss"], ISS);
}

/// A refusal: the token, the verifier's options, the exit status 1, the code and PyJWT's
/// message, and the check `explain` names as the first failure.
struct Refusal {
    name: &'static str,
    token: String,
    options: Vec<&'static str>,
    code: &'static str,
    message: &'static str,
    check: &'static str,
}

fn refusals(dir: &Scratch) -> Vec<Refusal> {
    let good = token(dir, &[]);
    let other = Scratch::new("other-key");
    es_key(&other);
    let (head, _) = good.rsplit_once('.').unwrap();
    let foreign = token(&other, &[]);
    let foreign_sig = foreign.rsplit_once('.').unwrap().1;
    let refusal = |name, token: String, options: &[&'static str], code, message, check| Refusal {
        name,
        token,
        options: options.to_vec(),
        code,
        message,
        check,
    };
    let std = ["--iss", ISS, "--aud", "orders"];
    // A token with this header, our claims and a signature that is never reached.
    let with_header = |header: Value| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = good.split('.').nth(1).unwrap();
        format!("{}.{claims}.{foreign_sig}", b64.encode(header.to_string()))
    };
    let second = Scratch::new("second-key");
    es_key(&second);
    std::fs::copy(second.path("es.jwks"), dir.path("second.jwks")).unwrap();
    vec![
        refusal(
            "alg none",
            with_header(json!({"alg": "none", "typ": "JWT"})),
            &std,
            "algorithm_not_allowed",
            "The specified alg value is not allowed",
            "alg",
        ),
        refusal(
            "HS256 with a public key",
            with_header(json!({"alg": "HS256"})),
            &std,
            "algorithm_not_allowed",
            "The specified alg value is not allowed",
            "alg",
        ),
        refusal(
            "no alg",
            with_header(json!({"typ": "JWT"})),
            &std,
            "algorithm_not_allowed",
            "The specified alg value is not allowed",
            "header",
        ),
        refusal(
            "crit",
            with_header(json!({"alg": "ES256", "crit": ["exp"]})),
            &std,
            "unsupported_crit",
            "Unsupported critical extension (crit)",
            "header",
        ),
        refusal(
            "no kid, two keys",
            with_header(json!({"alg": "ES256"})),
            &["--key", "second.jwks", "--iss", ISS, "--aud", "orders"],
            "missing_kid",
            "Token is missing the \"kid\" header",
            "key",
        ),
        refusal(
            "exp of the wrong type",
            token(dir, &["--claim", "exp=soon"]),
            &std,
            "invalid_claim",
            "Invalid \"exp\" claim: wrong type or value",
            "claims",
        ),
        refusal(
            "garbage",
            "abc".into(),
            &std,
            "not_enough_segments",
            "Not enough segments",
            "segments",
        ),
        refusal(
            "four segments",
            format!("{good}.x"),
            &std,
            "too_many_segments",
            "Too many segments",
            "segments",
        ),
        refusal(
            "bad header",
            format!("!!{good}"),
            &std,
            "invalid_base64",
            "Invalid header padding",
            "header",
        ),
        refusal(
            "forged signature",
            format!("{head}.{foreign_sig}"),
            &std,
            "invalid_signature",
            "Signature verification failed",
            "signature",
        ),
        refusal(
            "unknown kid",
            foreign.clone(),
            &std,
            "unknown_kid",
            "Unable to find a signing key that matches the kid",
            "key",
        ),
        refusal(
            "wrong typ",
            good.clone(),
            &["--iss", ISS, "--aud", "orders", "--typ", "at+jwt"],
            "invalid_typ",
            "Invalid token type (typ)",
            "typ",
        ),
        refusal(
            "expired",
            good.clone(),
            &["--iss", ISS, "--aud", "orders", "--now", FAR_FUTURE],
            "token_expired",
            "Signature has expired",
            "exp",
        ),
        refusal(
            "not yet valid",
            token(dir, &["--claim", "nbf=4102444800"]),
            &std,
            "token_not_yet_valid",
            "The token is not yet valid (nbf)",
            "nbf",
        ),
        refusal(
            "issued in the future",
            token(
                dir,
                &["--claim", "iat=4102444800", "--claim", "exp=4102448400"],
            ),
            &std,
            "issued_in_future",
            "The token is not yet valid (iat)",
            "iat",
        ),
        refusal(
            "too long",
            good.clone(),
            &["--iss", ISS, "--aud", "orders", "--max-lifetime", "5m"],
            "lifetime_too_long",
            "Token lifetime exceeds the allowed maximum",
            "lifetime",
        ),
        refusal(
            "wrong issuer",
            good.clone(),
            &["--iss", "https://other", "--aud", "orders"],
            "invalid_issuer",
            "Invalid issuer",
            "iss",
        ),
        refusal(
            "wrong audience",
            good.clone(),
            &["--iss", ISS, "--aud", "billing"],
            "invalid_audience",
            "Invalid audience",
            "aud",
        ),
        refusal(
            "audience not configured",
            good.clone(),
            &["--iss", ISS],
            "invalid_audience",
            "Invalid audience",
            "aud",
        ),
        refusal(
            "missing required claim",
            good.clone(),
            &["--iss", ISS, "--aud", "orders", "--require", "tenant"],
            "missing_claim",
            "Token is missing the \"tenant\" claim",
            "required",
        ),
        refusal(
            "empty subject",
            dir.run(&[
                "encode", "--key", "es.pem", "--aud", "orders", "--iss", ISS, "--sub", "",
            ])
            .ok(),
            &std,
            "invalid_subject",
            "Subject must be a non-empty string",
            "sub",
        ),
        refusal(
            "roles of the wrong type",
            token(dir, &["--claim", "roles=7"]),
            &std,
            "invalid_claim",
            "Invalid \"roles\" claim: wrong type or value",
            "grants",
        ),
    ]
}

/// Every refusal: `verify` exits 1 with PyJWT's message; `explain` agrees, names the check,
/// and every check before it passed.
#[test]
fn refusals_exit_1_with_pyjwt_messages_and_explain_agrees() {
    let dir = Scratch::new("refusals");
    es_key(&dir);
    for case in refusals(&dir) {
        let mut args = vec!["verify", "--key", "es.jwks"];
        args.extend(&case.options);
        args.push(&case.token);
        let out = dir.run(&args).status(1);
        assert_eq!(
            out.stderr.trim(),
            format!("error[{}]: {}", case.code, case.message),
            "{}",
            case.name
        );
        assert_eq!(out.stdout, "", "{}", case.name);

        args.insert(0, "--json");
        let verdict = dir.run(&args).status(1).json();
        assert_eq!(
            verdict,
            json!({"valid": false, "code": case.code, "message": case.message})
        );

        args[1] = "explain";
        let report = dir.run(&args).status(1).json();
        assert_eq!(report["valid"], false, "{}", case.name);
        assert_eq!(report["code"], case.code, "{}", case.name);
        assert_eq!(report["message"], case.message, "{}", case.name);
        assert_eq!(
            report["first_failure"], case.check,
            "{}: {report:#}",
            case.name
        );
        let checks = report["checks"].as_array().unwrap();
        let at = checks
            .iter()
            .position(|c| c["check"] == case.check)
            .unwrap();
        assert_eq!(checks[at]["status"], "fail", "{}", case.name);
        assert!(
            checks[at]["detail"]
                .as_str()
                .unwrap()
                .starts_with(case.message),
            "{}: {report:#}",
            case.name
        );
        for check in &checks[..at] {
            assert!(
                check["status"] == "pass" || check["status"] == "off",
                "{}: {check} before the failure",
                case.name
            );
        }
        for check in &checks[at + 1..] {
            assert!(
                check["status"] == "not_reached" || check["status"] == "off",
                "{}: {check} after the failure",
                case.name
            );
        }

        // The human report marks the same line and ends with the same verdict.
        args.remove(0);
        let text = dir.run(&args).status(1).stdout;
        let marked: Vec<&str> = text.lines().filter(|l| l.starts_with("> FAIL")).collect();
        assert_eq!(marked.len(), 1, "{}: {text}", case.name);
        assert!(
            marked[0].split_whitespace().nth(2) == Some(case.check),
            "{}: {text}",
            case.name
        );
        assert!(
            text.contains(&format!(
                "verdict: refused at {}: {} ({})",
                case.check, case.message, case.code
            )),
            "{}: {text}",
            case.name
        );
    }
}

#[test]
fn explain_an_accepted_token() {
    let dir = Scratch::new("explain-ok");
    es_key(&dir);
    let token = token(&dir, &["--role", "admin"]);
    let args = [
        "explain", "--key", "es.jwks", "--iss", ISS, "--aud", "orders", &token,
    ];
    let text = dir.run(&args).ok();
    assert!(
        text.contains("verdict: accepted (sub \"alice\", ES256 key"),
        "{text}"
    );
    assert!(
        !text.contains("FAIL") && !text.contains("not reached"),
        "{text}"
    );
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let report = dir.run(&json_args).status(0).json();
    assert_eq!(report["valid"], true);
    let status = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    for check in [
        "size",
        "segments",
        "header",
        "key",
        "alg",
        "signature",
        "claims",
        "required",
        "exp",
        "iss",
        "aud",
        "sub",
        "grants",
    ] {
        assert_eq!(status(check), "pass", "{check}: {report:#}");
    }
    for check in ["typ", "lifetime"] {
        assert_eq!(status(check), "off", "{check}");
    }
    assert!(
        report["checks"][16]["detail"]
            .as_str()
            .unwrap()
            .contains("admin")
    );
}

/// Checks after the first failure are read from the unverified token: an expired token for
/// the wrong audience says both.
#[test]
fn explain_reads_what_comes_after_the_first_failure() {
    let dir = Scratch::new("explain-after");
    es_key(&dir);
    let token = token(&dir, &[]);
    let report = dir
        .run(&[
            "--json", "explain", "--key", "es.jwks", "--aud", "billing", "--now", FAR_FUTURE,
            &token,
        ])
        .status(1)
        .json();
    assert_eq!(report["first_failure"], "exp");
    let aud = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "aud")
        .unwrap();
    assert_eq!(aud["status"], "not_reached");
    assert_eq!(aud["unverified"], "fail");
}

#[test]
fn input_errors_exit_2() {
    let dir = Scratch::new("input");
    es_key(&dir);
    let token = token(&dir, &[]);
    for (args, needle) in [
        (
            vec!["verify", "--key", "missing.pem", &token],
            "cannot read missing.pem",
        ),
        (
            vec!["verify", "--key", "es.jwks", "--leeway", "61", &token],
            "leeway",
        ),
        (
            vec!["verify", "--key", "es.jwks", "--aud", "", &token],
            "audience",
        ),
        (
            vec!["verify", "--key", "es.jwks", "--max-lifetime", "1w", &token],
            "duration",
        ),
        (vec!["verify", "--bogus", &token], "--bogus"),
        (
            vec!["explain", "--key", "es.jwks", "--leeway", "61", &token],
            "leeway",
        ),
        (vec!["jwks"], "FILE"),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let out = dir.run(&args).status(2);
        assert!(out.stderr.contains(needle), "{args:?}: {out:#?}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

#[test]
fn jwks_of_several_keys() {
    let dir = Scratch::new("jwks");
    let ed = dir
        .run(&["--json", "keygen", "EdDSA", "--out", "ed.pem"])
        .status(0)
        .json();
    let rsa = dir
        .run(&["--json", "keygen", "RS256", "--out", "rsa.pem"])
        .status(0)
        .json();
    std::fs::write(dir.path("ed.pub"), ed["public_pem"].as_str().unwrap()).unwrap();
    let jwks = dir
        .run(&["--json", "jwks", "ed.pub", "rsa.pem", "--alg", "RS256"])
        .status(0)
        .json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [ed["kid"].as_str().unwrap(), rsa["kid"].as_str().unwrap()]
    );
    let text = serde_json::to_string(&jwks).unwrap();
    assert!(!text.contains("\"d\""), "no private member: {text}");
    // Both keys verify their tokens from the one set.
    std::fs::write(dir.path("set.jwks"), text).unwrap();
    for (key, alg) in [("ed.pem", "EdDSA"), ("rsa.pem", "RS256")] {
        let token = dir.run(&["encode", "--key", key, "--alg", alg, "bob"]).ok();
        dir.run(&["verify", "--key", "set.jwks", &token]).ok();
    }
}
