//! One test per attack of the security catalog (shared/reference/security.md §3) that applies
//! to a verifier. Each crafts the attacker's token with real keys and asserts the exact
//! refusal.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod common;

use std::time::Instant;

use authz_core::{
    Algorithm, ErrorKind, Issuer, KeySet, Segment, SigningKey, Verifier, VerifyingKey,
};
use common::*;
use jsonwebtoken::Algorithm as J;

fn kind(verifier: &Verifier, token: &str) -> ErrorKind {
    verifier
        .verify(token)
        .expect_err("the token must be refused")
        .into_kind()
}

// 1. alg none, every case, signature stripped or kept.
#[test]
fn alg_none_in_any_case_is_refused() {
    let v = verifier();
    let valid = hs(&claims(""));
    let sig = valid.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let payload = b64(claims(""));
        for signature in ["", sig] {
            let token = format!("{header}.{payload}.{signature}");
            assert_eq!(
                kind(&v, &token),
                ErrorKind::AlgorithmNotAllowed,
                "{alg} {signature:?}"
            );
        }
    }
    // Header without alg at all.
    let token = format!("{}.{}.", b64("{}"), b64(claims("")));
    assert_eq!(kind(&v, &token), ErrorKind::AlgorithmNotAllowed);
}

// 2. Algorithm confusion: the RSA/EC public key, in every encoding, used as an HMAC secret.
#[test]
fn public_key_used_as_hmac_secret_is_refused() {
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let signing = SigningKey::generate(alg).unwrap();
        let public = signing.verifying_key();
        let v = Verifier::builder(KeySet::single(public.clone()))
            .with_clock(clock())
            .build()
            .unwrap();
        let pem = public.to_pem().unwrap();
        let encodings: Vec<Vec<u8>> = vec![
            pem.clone().into_bytes(),
            pem.trim_end().as_bytes().to_vec(),
            public.to_spki_der().unwrap(),
            public.to_jwk().unwrap().to_json().into_bytes(),
        ];
        for secret in encodings {
            for (name, jalg) in [
                ("HS256", J::HS256),
                ("HS384", J::HS384),
                ("HS512", J::HS512),
            ] {
                let header = format!(r#"{{"alg":"{name}","typ":"JWT"}}"#);
                let token = hs_raw(&secret, jalg, &header, &claims(""));
                assert_eq!(kind(&v, &token), ErrorKind::AlgorithmNotAllowed);
            }
        }
        // And a public key cannot be loaded as an HMAC secret by mistake.
        assert!(VerifyingKey::from_secret(Algorithm::HS256, pem.as_bytes()).is_err());
        let jwk = public.to_jwk().unwrap().to_json();
        assert!(VerifyingKey::from_secret(Algorithm::HS256, jwk.as_bytes()).is_err());
    }
}

// 3. Header alg other than the key's: PS256 on an RS256 key, ES256 header on an RSA kid.
#[test]
fn header_alg_must_equal_the_keys_algorithm() {
    let rsa = SigningKey::generate(Algorithm::RS256).unwrap();
    let pem = rsa.to_pkcs8_pem().unwrap();
    let as_ps = SigningKey::from_pem(Algorithm::PS256, pem.as_bytes()).unwrap();
    let v = Verifier::builder(KeySet::single(rsa.verifying_key()))
        .with_clock(clock())
        .build()
        .unwrap();
    let ps_token = asym_raw(&as_ps, r#"{"alg":"PS256"}"#, &claims(""));
    assert_eq!(kind(&v, &ps_token), ErrorKind::AlgorithmNotAllowed);

    let ec = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("ec");
    let set = KeySet::new([rsa.verifying_key().with_kid("rsa"), ec.verifying_key()]).unwrap();
    let v = Verifier::builder(set).with_clock(clock()).build().unwrap();
    let token = asym_raw(&ec, r#"{"alg":"ES256","kid":"rsa"}"#, &claims(""));
    assert_eq!(kind(&v, &token), ErrorKind::AlgorithmNotAllowed);
    let good = asym_raw(&ec, r#"{"alg":"ES256","kid":"ec"}"#, &claims(""));
    assert!(v.verify(&good).is_ok());
}

// 4. Signature stripped, truncated, payload modified, attacker key reusing our kid.
#[test]
fn tampered_signatures_are_refused() {
    let v = verifier();
    let token = hs(&claims(""));
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert_eq!(kind(&v, &format!("{input}.")), ErrorKind::InvalidSignature);
    let truncated = b64(&unb64(sig)[..30]);
    assert_eq!(
        kind(&v, &format!("{input}.{truncated}")),
        ErrorKind::InvalidSignature
    );
    let (header, _) = input.split_once('.').unwrap();
    let admin = b64(claims(r#""roles":["admin"]"#));
    assert_eq!(
        kind(&v, &format!("{header}.{admin}.{sig}")),
        ErrorKind::InvalidSignature
    );

    let attacker = b"attacker-secret-attacker-secret-!";
    let forged = hs_raw(
        attacker,
        J::HS256,
        r#"{"alg":"HS256","kid":"k1"}"#,
        &claims(""),
    );
    let ours = Verifier::builder(KeySet::single(hs_key().with_kid("k1")))
        .with_clock(clock())
        .build()
        .unwrap();
    assert_eq!(kind(&ours, &forged), ErrorKind::InvalidSignature);
}

/// P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

// 5 and 6. Psychic signatures (r = s = 0, n, n-1), DER instead of R||S, extra bytes.
#[test]
fn psychic_and_misencoded_ecdsa_signatures_are_refused() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let v = Verifier::builder(KeySet::single(key.verifying_key()))
        .with_clock(clock())
        .build()
        .unwrap();
    let token = asym_raw(&key, r#"{"alg":"ES256"}"#, &claims(""));
    let (input, sig) = token.rsplit_once('.').unwrap();
    let n_minus_1 = sub_be(
        &P256_N,
        &[0u8; 31].iter().copied().chain([1]).collect::<Vec<_>>(),
    );
    let cases: Vec<Vec<u8>> = vec![
        vec![0u8; 64],
        [P256_N, P256_N].concat(),
        [n_minus_1, n_minus_1].concat(),
        [[0u8; 32], P256_N].concat(),
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
    ];
    for forged in cases {
        assert_eq!(
            kind(&v, &format!("{input}.{}", b64(forged))),
            ErrorKind::InvalidSignature
        );
    }
    let mut longer = unb64(sig);
    longer.push(0);
    assert_eq!(
        kind(&v, &format!("{input}.{}", b64(longer))),
        ErrorKind::InvalidSignature
    );
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

// 6. Ed25519 with S >= L.
#[test]
fn ed25519_with_s_not_reduced_is_refused() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let v = Verifier::builder(KeySet::single(key.verifying_key()))
        .with_clock(clock())
        .build()
        .unwrap();
    let token = asym_raw(&key, r#"{"alg":"EdDSA"}"#, &claims(""));
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = unb64(sig);
    // Add L to S (little-endian): S + L verifies the same equation but is not canonical.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(
        kind(&v, &format!("{input}.{}", b64(sig))),
        ErrorKind::InvalidSignature
    );
}

// 7. ECDSA malleability: the (r, n - s) twin verifies, and carries the same jti, which is
// why revocation keys on (iss, jti) and never on the token's hash.
#[test]
fn malleable_ecdsa_twin_keeps_the_same_jti() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let v = Verifier::builder(KeySet::single(key.verifying_key()))
        .with_clock(clock())
        .build()
        .unwrap();
    let token = asym_raw(&key, r#"{"alg":"ES256"}"#, &claims(r#""jti":"t-1""#));
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = unb64(sig);
    let twin_s = sub_be(&P256_N, &sig[32..]);
    let twin = format!("{input}.{}", b64([&sig[..32], &twin_s[..]].concat()));
    assert_ne!(twin, token);
    let (a, b) = (v.verify(&token).unwrap(), v.verify(&twin).unwrap());
    assert_eq!(a.token_id(), Some("t-1"));
    assert_eq!(a.token_id(), b.token_id());
}

// 9 and 10. Keys named by the token (jwk, jku, x5u, x5c) are never used or fetched.
#[test]
fn header_supplied_keys_are_ignored() {
    let ours = SigningKey::generate(Algorithm::ES256).unwrap();
    let attacker = SigningKey::generate(Algorithm::ES256).unwrap();
    let v = Verifier::builder(KeySet::single(ours.verifying_key()))
        .with_clock(clock())
        .build()
        .unwrap();
    let attacker_jwk = attacker.verifying_key().to_jwk().unwrap().to_json();
    let headers = [
        format!(r#"{{"alg":"ES256","jwk":{attacker_jwk}}}"#),
        r#"{"alg":"ES256","jku":"http://127.0.0.1:1/jwks.json"}"#.to_owned(),
        r#"{"alg":"ES256","x5u":"http://127.0.0.1:1/cert.pem"}"#.to_owned(),
        r#"{"alg":"ES256","x5c":["MIIBIjANBgkq"]}"#.to_owned(),
    ];
    for header in headers {
        let started = Instant::now();
        let token = asym_raw(&attacker, &header, &claims(""));
        assert_eq!(kind(&v, &token), ErrorKind::InvalidSignature, "{header}");
        assert!(started.elapsed().as_secs() < 2, "no network is touched");
    }
}

// 11. kid injection: traversal, SQL, shell, NUL, oversize, non-string.
#[test]
fn kid_injection_is_refused_quickly() {
    let v = Verifier::builder(KeySet::single(hs_key().with_kid("k1")))
        .with_clock(clock())
        .build()
        .unwrap();
    let cases = [
        (r#""../../../../dev/null""#, ErrorKind::UnknownKeyId),
        (r#""' UNION SELECT 'secret' --""#, ErrorKind::UnknownKeyId),
        (r#""k1|sleep 10""#, ErrorKind::UnknownKeyId),
        (r#""K1""#, ErrorKind::UnknownKeyId),
        (r#""k1\u0000""#, ErrorKind::InvalidKeyId),
        (r#""""#, ErrorKind::InvalidKeyId),
        (r#"123"#, ErrorKind::InvalidKeyId),
        (r#"null"#, ErrorKind::InvalidKeyId),
    ];
    let long = format!("\"{}\"", "a".repeat(300));
    for (kid, expected) in cases
        .iter()
        .map(|(k, e)| (k.to_string(), e.clone()))
        .chain([(long, ErrorKind::InvalidKeyId)])
    {
        let header = format!(r#"{{"alg":"HS256","kid":{kid}}}"#);
        let started = Instant::now();
        let token = hs_raw(b"", J::HS256, &header, &claims(""));
        assert_eq!(kind(&v, &token), expected, "{kid}");
        assert!(started.elapsed().as_millis() < 500);
    }
}

// 12. crit, with unknown or no extensions, is refused even when the signature is good.
#[test]
fn crit_is_refused() {
    let v = verifier();
    for header in [
        r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
    ] {
        let token = hs_raw(SECRET, J::HS256, header, &claims(""));
        assert_eq!(kind(&v, &token), ErrorKind::UnsupportedCritical, "{header}");
    }
}

// 13. Duplicate members in header or claims (parser differentials).
#[test]
fn duplicate_members_are_refused() {
    let v = verifier();
    let dup_header = hs_raw(
        SECRET,
        J::HS256,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        &claims(""),
    );
    assert_eq!(
        kind(&v, &dup_header),
        ErrorKind::DuplicateMember(Segment::Header)
    );
    for extra in [
        r#""role":"user","role":"admin""#,
        r#""sub":"mallory""#,
        r#""exp":9999999999"#,
    ] {
        let token = hs(&claims(extra));
        assert_eq!(
            kind(&v, &token),
            ErrorKind::DuplicateMember(Segment::Payload),
            "{extra}"
        );
    }
    // An escaped name is the same name.
    let token = hs(&claims(r#""roles":["user"],"r\u006fles":["admin"]"#));
    assert_eq!(
        kind(&v, &token),
        ErrorKind::DuplicateMember(Segment::Payload)
    );
}

// 15. exp type confusion: float accepted; string, null, negative, huge refused.
#[test]
fn exp_type_confusion() {
    let v = verifier();
    let with_exp = |exp: &str| hs(&format!(r#"{{"sub":"alice","exp":{exp}}}"#));
    assert!(v.verify(&with_exp(&format!("{}.5", NOW + 10))).is_ok());
    for exp in [
        format!("\"{}\"", NOW + 10),
        "null".to_owned(),
        "-1".to_owned(),
        "true".to_owned(),
        "1e300".to_owned(),
        "18446744073709551615".to_owned(),
        format!("[{}]", NOW + 10),
    ] {
        assert_eq!(
            kind(&v, &with_exp(&exp)),
            ErrorKind::InvalidClaim("exp".into()),
            "{exp}"
        );
    }
    assert_eq!(
        kind(&v, &hs(r#"{"sub":"alice"}"#)),
        ErrorKind::MissingClaim("exp".into())
    );
    // A number too large for JSON's doubles is a JSON error, not a panic.
    assert!(v.verify(&with_exp("1e999999")).is_err());
}

// 16. nbf / iat in the future, and their types.
#[test]
fn nbf_and_iat_in_the_future() {
    let v = verifier();
    let t = |extra: &str| hs(&format!(r#"{{"sub":"a","exp":{},{extra}}}"#, NOW + 600));
    assert_eq!(
        kind(&v, &t(&format!(r#""nbf":{}"#, NOW + 31))),
        ErrorKind::NotYetValid
    );
    assert!(
        v.verify(&t(&format!(r#""nbf":{}"#, NOW + 29))).is_ok(),
        "inside leeway"
    );
    assert_eq!(
        kind(&v, &t(&format!(r#""iat":{}"#, NOW + 86_400))),
        ErrorKind::IssuedInFuture
    );
    assert!(
        v.verify(&t(&format!(r#""iat":{}"#, NOW + 20))).is_ok(),
        "inside leeway"
    );
    assert_eq!(
        kind(&v, &t(r#""nbf":"0""#)),
        ErrorKind::InvalidClaim("nbf".into())
    );
    assert_eq!(
        kind(&v, &t(r#""iat":null"#)),
        ErrorKind::InvalidClaim("iat".into())
    );
}

// 17. Audience: other service, missing, case/space variants, type confusion.
#[test]
fn audience_confusion() {
    let v = builder().with_audience("orders").build().unwrap();
    let t = |aud: &str| hs(&claims(&format!(r#""aud":{aud}"#)));
    assert!(v.verify(&t(r#""orders""#)).is_ok());
    assert!(v.verify(&t(r#"["billing","orders"]"#)).is_ok());
    for aud in [
        r#""billing""#,
        r#""Orders""#,
        r#"" orders""#,
        r#""orders ""#,
        "[]",
        r#"["ordersx"]"#,
    ] {
        assert_eq!(kind(&v, &t(aud)), ErrorKind::InvalidAudience, "{aud}");
    }
    for aud in [
        "123",
        "{}",
        "null",
        r#"["orders",1]"#,
        "true",
        r#"[["orders"]]"#,
    ] {
        assert_eq!(kind(&v, &t(aud)), ErrorKind::InvalidAudience, "{aud}");
    }
    assert_eq!(
        kind(&v, &hs(&claims(""))),
        ErrorKind::MissingClaim("aud".into())
    );
    // A verifier that does not know its own name refuses tokens meant for someone.
    assert_eq!(
        kind(&verifier(), &t(r#""orders""#)),
        ErrorKind::InvalidAudience
    );
    let lax = builder().insecure_accept_any_audience().build().unwrap();
    assert!(lax.verify(&t(r#""orders""#)).is_ok());
}

// 18. Issuer: wrong, prefix, array, number, missing.
#[test]
fn issuer_confusion() {
    let v = builder()
        .with_issuer("https://auth.example.com")
        .build()
        .unwrap();
    let t = |iss: &str| hs(&claims(&format!(r#""iss":{iss}"#)));
    assert!(v.verify(&t(r#""https://auth.example.com""#)).is_ok());
    for iss in [
        r#""https://evil.example.com""#,
        r#""https://auth.example.co""#,
        r#""https://auth.example.com.evil""#,
        r#""HTTPS://AUTH.EXAMPLE.COM""#,
        r#"["https://auth.example.com"]"#,
        r#"["https://auth.example.com","evil"]"#,
        "123",
        "null",
    ] {
        assert_eq!(kind(&v, &t(iss)), ErrorKind::InvalidIssuer, "{iss}");
    }
    assert_eq!(
        kind(&v, &hs(&claims(""))),
        ErrorKind::MissingClaim("iss".into())
    );
}

// Subject and role type confusion.
#[test]
fn subject_and_role_type_confusion() {
    let v = verifier();
    let t = |sub: &str, extra: &str| {
        let rest = if extra.is_empty() {
            String::new()
        } else {
            format!(",{extra}")
        };
        hs(&format!(r#"{{"sub":{sub},"exp":{}{rest}}}"#, NOW + 60))
    };
    for sub in ["123", "null", r#"["alice"]"#, r#"{"id":"alice"}"#, r#""""#] {
        assert_eq!(kind(&v, &t(sub, "")), ErrorKind::InvalidSubject, "{sub}");
    }
    for (extra, claim) in [
        (r#""role":1"#, "role"),
        (r#""role":{"admin":true}"#, "role"),
        (r#""roles":["admin",1]"#, "roles"),
        (r#""roles":true"#, "roles"),
        (r#""scope":["a",{}]"#, "scope"),
        (r#""permissions":{"posts:write":true}"#, "permissions"),
    ] {
        assert_eq!(
            kind(&v, &t(r#""a""#, extra)),
            ErrorKind::InvalidClaim(claim.into()),
            "{extra}"
        );
    }
}

// 19. Token-type confusion: a verifier for access tokens requires typ at+jwt.
#[test]
fn token_type_confusion() {
    let v = builder().with_typ("at+jwt").build().unwrap();
    let t = |header: &str| hs_raw(SECRET, J::HS256, header, &claims(""));
    assert!(v.verify(&t(r#"{"alg":"HS256","typ":"at+jwt"}"#)).is_ok());
    assert!(
        v.verify(&t(r#"{"alg":"HS256","typ":"application/AT+JWT"}"#))
            .is_ok()
    );
    for header in [
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"HS256","typ":"refresh+jwt"}"#,
        r#"{"alg":"HS256","typ":"client-authentication+jwt"}"#,
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":1}"#,
    ] {
        assert_eq!(
            kind(&v, &t(header)),
            ErrorKind::InvalidTokenType,
            "{header}"
        );
    }
    // Nested tokens are refused, not ignored.
    let nested = t(r#"{"alg":"HS256","cty":"JWT"}"#);
    assert_eq!(kind(&verifier(), &nested), ErrorKind::NestedToken);
}

// 23. Base64 tricks.
#[test]
fn base64_tricks_are_refused() {
    let v = verifier();
    let token = hs(&claims(""));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let original = parts.clone();
    for (i, seg) in [
        (0usize, Segment::Header),
        (1, Segment::Payload),
        (2, Segment::Signature),
    ] {
        for mutate in [
            |s: &str| format!("{s}="),
            |s: &str| format!("{s}=="),
            |s: &str| format!(" {s}"),
            |s: &str| format!("{}\n{}", &s[..4], &s[4..]),
            |s: &str| s.replacen('_', "/", 1).replacen('-', "+", 1) + "+",
        ] {
            parts[i] = mutate(&original[i]);
            let t = if i == 2 {
                parts.join(".")
            } else {
                sign_segments(&parts[0], &parts[1])
            };
            assert_eq!(kind(&v, &t), ErrorKind::InvalidBase64(seg), "{t}");
            parts[i] = original[i].clone();
        }
    }
    // Non-canonical trailing bits: the HS256 signature is 43 chars, its last char carries
    // 2 unused bits.
    let sig = &original[2];
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    let tweaked = alphabet.chars().nth(idx ^ 1).unwrap();
    let token = format!(
        "{}.{}.{}{}",
        original[0],
        original[1],
        &sig[..sig.len() - 1],
        tweaked
    );
    assert_eq!(
        kind(&v, &token),
        ErrorKind::InvalidBase64(Segment::Signature)
    );
}

/// Signs literal (possibly malformed) segments, so that only decoding can refuse them.
fn sign_segments(header: &str, payload: &str) -> String {
    let input = format!("{header}.{payload}");
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, J::HS256).expect("sign");
    format!("{input}.{sig}")
}

// Header and claims must be JSON objects: arrays, strings, BOM, trailing bytes, invalid UTF-8.
#[test]
fn non_object_json_is_refused() {
    let v = verifier();
    for header in [
        "[]",
        "\"alg\"",
        "\u{feff}{\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\"} x",
    ] {
        let token = hs_raw(SECRET, J::HS256, header, &claims(""));
        let err = kind(&v, &token);
        assert!(
            err == ErrorKind::InvalidJson(Segment::Header),
            "{header:?}: {err:?}"
        );
    }
    for payload in [
        "[]",
        "\"x\"",
        "null",
        "{\"sub\":\"a\",\"exp\":1} x",
        "\u{feff}{}",
    ] {
        assert_eq!(
            kind(&v, &hs(payload)),
            ErrorKind::InvalidJson(Segment::Payload),
            "{payload:?}"
        );
    }
    let header = b64(r#"{"alg":"HS256"}"#);
    let payload = b64(format!("{{\"sub\":\"a\",\"exp\":{},\"x\":\"", NOW + 60)
        .into_bytes()
        .into_iter()
        .chain(*b"\xff\xfe\"}")
        .collect::<Vec<u8>>());
    let input = format!("{header}.{payload}");
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
        J::HS256,
    )
    .unwrap();
    assert_eq!(
        kind(&v, &format!("{input}.{sig}")),
        ErrorKind::InvalidJson(Segment::Payload)
    );
}

// 24. Oversized tokens, thousands of dots, deep nesting: bounded time, no panic.
#[test]
fn oversized_and_deeply_nested_tokens_are_refused() {
    let v = verifier();
    let started = Instant::now();
    assert_eq!(kind(&v, &"a".repeat(8 * 1024 + 1)), ErrorKind::TooLarge);
    assert_eq!(kind(&v, &"a".repeat(10 * 1024 * 1024)), ErrorKind::TooLarge);
    assert_eq!(kind(&v, &".".repeat(7000)), ErrorKind::TooManySegments);
    let nested = format!(r#""deep":{}1{}"#, "[".repeat(3000), "]".repeat(3000));
    let token = hs(&claims(&nested));
    assert!(token.len() < 8 * 1024);
    assert_eq!(kind(&v, &token), ErrorKind::InvalidJson(Segment::Payload));
    let wide = format!(r#""wide":[{}1]"#, "1,".repeat(2000));
    assert!(
        v.verify(&hs(&claims(&wide))).is_ok(),
        "large but shallow claims are fine"
    );
    assert!(started.elapsed().as_secs() < 2);
}

// 14. A token forged with a weak/public secret never verifies against a strong key.
#[test]
fn tokens_signed_with_public_secrets_are_refused() {
    let v = verifier();
    for secret in [
        &b"secret"[..],
        b"your-256-bit-secret",
        b"a-string-secret-at-least-256-bits-long",
        b"",
    ] {
        let token = hs_raw(secret, J::HS256, r#"{"alg":"HS256"}"#, &claims(""));
        assert_eq!(kind(&v, &token), ErrorKind::InvalidSignature);
    }
}

// Errors never carry the token or what was in it.
#[test]
fn errors_do_not_echo_token_contents() {
    let v = builder()
        .with_audience("api")
        .with_issuer("https://issuer")
        .build()
        .unwrap();
    let marker = "MARKER-7f3a";
    let tokens = [
        hs(&claims(&format!(r#""aud":"{marker}""#))),
        hs(&claims(&format!(r#""iss":"{marker}","aud":"api""#))),
        hs_raw(
            SECRET,
            J::HS256,
            &format!(r#"{{"alg":"HS256","kid":"{marker}"}}"#),
            &claims(""),
        ),
        hs_raw(
            SECRET,
            J::HS256,
            &format!(r#"{{"alg":"{marker}"}}"#),
            &claims(""),
        ),
        format!("{marker}.{marker}.{marker}"),
    ];
    for token in tokens {
        let err = v.verify(&token).unwrap_err();
        let shown = format!("{err} {err:?} {}", err.code());
        assert!(!shown.contains(marker), "{shown}");
        assert!(!shown.contains(&token[..20]), "{shown}");
    }
}

// Issued tokens are refused by a verifier of another key with the same kid.
#[test]
fn same_kid_other_key_is_refused() {
    let ours = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid("shared");
    let theirs = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid("shared");
    let v = Verifier::builder(KeySet::single(ours.verifying_key()))
        .with_clock(clock())
        .build()
        .unwrap();
    let token = Issuer::new(theirs)
        .with_clock(clock())
        .issue_for("mallory")
        .unwrap();
    assert_eq!(kind(&v, &token), ErrorKind::InvalidSignature);
}
