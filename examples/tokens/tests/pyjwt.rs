//! `authz` and [PyJWT](https://pyjwt.readthedocs.io), for every algorithm authz supports:
//!
//! - keys from `authz keygen` and tokens from `authz encode` verify in PyJWT (signature,
//!   `exp`, `iat`, `iss`, `aud`), with the header `authz` wrote (`alg`, `kid` = thumbprint,
//!   `typ`); an expired one is refused by both with the same message;
//! - tokens PyJWT signs with those keys verify with `authz verify` against the JWKS of
//!   `authz jwks`; PyJWT's expired and foreign-key tokens are refused with PyJWT's own
//!   messages ("Signature has expired", "Signature verification failed").
//!
//! The PyJWT side is `tests/py/pyjwt_interop.py` (shared with `tests/tests/pyjwt_interop.rs`).
//! When `python3 -c "import jwt, cryptography"` fails at build time, these tests are reported
//! as *ignored* with that reason (see `tests/build/probe.rs`); with `AUTHZ_REQUIRE_PYJWT=1` (as
//! CI sets) the build fails instead.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use authz_axum::Algorithm;
use authz_axum::core::KeyFamily;
use serde_json::{Value, json};
use support::Scratch;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "orders";

/// Runs the shared PyJWT script: `Ok` its JSON, `Err` PyJWT's `{"error", "message"}`.
fn pyjwt(mode: &str, request: &Value) -> Result<Value, Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/py/pyjwt_interop.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed = || -> Value {
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{mode}: no JSON ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    match out.status.code() {
        Some(0) => Ok(parsed()),
        Some(2) => Err(parsed()),
        _ => panic!(
            "{mode}: python3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A key made by `authz keygen`, as authz and PyJWT take it.
struct Key {
    alg: Algorithm,
    /// The file `authz` reads (`--key`).
    file: String,
    /// `--alg` when the file alone does not say (RSA, HMAC text).
    alg_flag: Vec<&'static str>,
    /// The kid `authz` gave it (none for HMAC).
    kid: Option<String>,
    /// For PyJWT: PKCS#8 PEM, or the secret's bytes in hex.
    private: String,
    /// For PyJWT: SPKI PEM, or the secret's bytes in hex.
    public: String,
}

fn keygen(dir: &Scratch, alg: Algorithm, name: &str) -> Key {
    let file = format!("{name}-{}.key", alg.as_str());
    let info = dir
        .run(&[
            "--json",
            "keygen",
            alg.as_str(),
            "--out",
            &file,
            "--format",
            "pem",
        ])
        .status(0)
        .json();
    let content = std::fs::read_to_string(dir.path(&file)).unwrap();
    let (private, public) = if alg.is_symmetric() {
        let hex: String = content
            .trim_end()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        (hex.clone(), hex)
    } else {
        (content, info["public_pem"].as_str().unwrap().to_owned())
    };
    // An RSA key fits six algorithms, and a secret's text does not say its hash.
    let alg_flag = if alg.family() == KeyFamily::Rsa || alg.is_symmetric() {
        vec!["--alg", alg.as_str()]
    } else {
        Vec::new()
    };
    Key {
        alg,
        file,
        alg_flag,
        kid: info["kid"].as_str().map(str::to_owned),
        private,
        public,
    }
}

/// The file `authz verify` should trust for `key`: its JWKS, or the secret itself.
fn trusted(dir: &Scratch, key: &Key) -> String {
    if key.alg.is_symmetric() {
        return key.file.clone();
    }
    let mut args = vec!["jwks", key.file.as_str()];
    args.extend(&key.alg_flag);
    let jwks = dir.run(&args).ok();
    let file = format!("{}.jwks", key.file);
    std::fs::write(dir.path(&file), jwks).unwrap();
    file
}

#[test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs PyJWT: pip install \"pyjwt[crypto]\" (python3 must import jwt and cryptography)"
)]
fn authz_tokens_verify_in_pyjwt() {
    let dir = Scratch::new("to-pyjwt");
    for alg in Algorithm::ALL {
        let key = keygen(&dir, alg, "ours");
        let mut args = vec![
            "encode", "--key", &key.file, "--iss", ISS, "--aud", AUD, "--typ", "at+jwt",
        ];
        args.extend(&key.alg_flag);
        args.extend(["alice", "admin"]);
        let token = dir.run(&args).ok();
        let verify = |token: &str| {
            pyjwt(
                "verify",
                &json!({"alg": alg.as_str(), "key": key.public, "token": token, "audience": AUD, "issuer": ISS}),
            )
        };
        let decoded = verify(&token).unwrap_or_else(|e| panic!("{alg}: PyJWT refused: {e}"));
        assert_eq!(decoded["header"]["alg"], alg.as_str());
        assert_eq!(decoded["header"]["typ"], "at+jwt");
        assert_eq!(
            decoded["header"]["kid"].as_str(),
            key.kid.as_deref(),
            "{alg}"
        );
        assert_eq!(decoded["claims"]["sub"], "alice");
        assert_eq!(decoded["claims"]["roles"], json!(["admin"]));

        // Expired: both refuse, with the same message.
        args.extend(["--claim", "iat=1000000000", "--claim", "exp=1000000060"]);
        let expired = dir.run(&args).ok();
        let refused = verify(&expired).expect_err("PyJWT accepted an expired token");
        assert_eq!(refused["error"], "ExpiredSignatureError", "{alg}");
        let trusted = trusted(&dir, &key);
        let mut args = vec!["verify", "--key", &trusted, "--iss", ISS, "--aud", AUD];
        if alg.is_symmetric() {
            args.extend(&key.alg_flag);
        }
        args.push(&expired);
        let ours = dir.run(&args).status(1);
        assert_eq!(
            ours.stderr.trim(),
            format!(
                "error[token_expired]: {}",
                refused["message"].as_str().unwrap()
            )
        );
    }
}

#[test]
#[cfg_attr(
    not(authz_pyjwt),
    ignore = "needs PyJWT: pip install \"pyjwt[crypto]\" (python3 must import jwt and cryptography)"
)]
fn pyjwt_tokens_verify_with_authz() {
    let dir = Scratch::new("from-pyjwt");
    for alg in Algorithm::ALL {
        let key = keygen(&dir, alg, "shared");
        let other = keygen(&dir, alg, "other");
        let sign = |with: &Key, exp_offset: i64| -> String {
            let mut headers = json!({"typ": "at+jwt"});
            if let Some(kid) = &key.kid {
                headers["kid"] = kid.as_str().into();
            }
            let out = pyjwt(
                "sign",
                &json!({
                    "alg": alg.as_str(),
                    "key": with.private,
                    "claims": {"sub": "bob", "roles": ["reader"], "iss": ISS, "aud": AUD},
                    "headers": headers,
                    "iat_offset": exp_offset - 300,
                    "exp_offset": exp_offset,
                }),
            )
            .unwrap_or_else(|e| panic!("{alg}: PyJWT refused to sign: {e}"));
            out["token"].as_str().unwrap().to_owned()
        };
        let trusted = trusted(&dir, &key);
        let verify = |token: &str| {
            let mut args = vec![
                "--json", "verify", "--key", &trusted, "--iss", ISS, "--aud", AUD, "--typ",
                "at+jwt",
            ];
            if alg.is_symmetric() {
                args.extend(&key.alg_flag);
            }
            args.push(token);
            dir.run(&args)
        };

        let accepted = verify(&sign(&key, 300)).status(0).json();
        assert_eq!(accepted["sub"], "bob", "{alg}");
        assert_eq!(accepted["roles"], json!(["reader"]), "{alg}");
        assert_eq!(accepted["kid"].as_str(), key.kid.as_deref(), "{alg}");

        let expired = verify(&sign(&key, -100)).status(1).json();
        assert_eq!(expired["code"], "token_expired", "{alg}");
        assert_eq!(expired["message"], "Signature has expired", "{alg}");

        // Signed with another key but naming ours: PyJWT's own message for it.
        let forged = verify(&sign(&other, 300)).status(1).json();
        assert_eq!(forged["code"], "invalid_signature", "{alg}");
        let pyjwt_says = pyjwt(
            "verify",
            &json!({"alg": alg.as_str(), "key": key.public, "token": sign(&other, 300), "audience": AUD, "issuer": ISS}),
        )
        .expect_err("PyJWT accepted a foreign signature");
        assert_eq!(forged["message"], pyjwt_says["message"], "{alg}");
    }
}
