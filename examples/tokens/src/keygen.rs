//! `authz keygen`: a new signing key for any algorithm authz supports.
//!
//! The private part (a PKCS#8 PEM private key, or an HMAC secret) goes to `--out`, created
//! with mode 0600 and never overwritten without `--force`; `--out -` prints it on standard
//! output and nothing else. Standard output otherwise carries only the public key (PEM or
//! JWK), so that it can be piped; what was written where goes to standard error.
//!
//! An HMAC secret is hex text of `2 × hash size` characters (random bytes of the hash size),
//! used as given, like `AUTHZ_SECRET`: the same text works in PyJWT or any other library.

use std::io::Write as _;
use std::path::Path;

use authz_axum::core::{KeyError, KeyFamily};
use authz_axum::{SigningKey, generate_secret};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::{KeyFormat, KeygenArgs};
use crate::outcome::Failure;

/// `authz keygen`.
pub(crate) fn run(args: &KeygenArgs, json: bool) -> Result<(), Failure> {
    let alg = args.alg;
    let failed = |e: KeyError| Failure::input(format!("cannot generate: {e}"));
    if args.bits != 2048 && alg.family() != KeyFamily::Rsa {
        return Err(Failure::input("--bits is for RSA keys"));
    }
    let (key, private) = if alg.is_symmetric() {
        let random = generate_secret(alg).map_err(failed)?;
        let text: Zeroizing<String> =
            Zeroizing::new(random.iter().map(|b| format!("{b:02x}")).collect());
        let key = SigningKey::from_secret(alg, text.as_bytes()).map_err(failed)?;
        let key = match &args.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        };
        let file = match args.format {
            KeyFormat::Pem => Zeroizing::new(format!("{}\n", *text)),
            KeyFormat::Jwk => {
                let k = Zeroizing::new(URL_SAFE_NO_PAD.encode(text.as_bytes()));
                let kid = key
                    .kid()
                    .map(|kid| format!(",\"kid\":{}", Value::from(kid)))
                    .unwrap_or_default();
                Zeroizing::new(format!(
                    "{{\"kty\":\"oct\",\"alg\":\"{alg}\",\"k\":\"{}\"{kid}}}\n",
                    *k
                ))
            }
        };
        (key, file)
    } else {
        let key = match alg.family() {
            KeyFamily::Rsa => SigningKey::generate_rsa(alg, args.bits),
            _ => SigningKey::generate(alg),
        }
        .map_err(failed)?;
        let key = match &args.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        };
        let pem = key
            .to_pkcs8_pem()
            .ok_or_else(|| Failure::input("the backend gave no private key"))?;
        (key, pem)
    };

    if args.out == Path::new("-") {
        print!("{}", *private);
        return Ok(());
    }
    write_private(&args.out, private.as_bytes(), args.force)?;

    let public = key.verifying_key();
    let jwk = public.to_jwk().map(|jwk| jwk.to_json());
    let pem = public.to_pem();
    let what = if alg.is_symmetric() {
        "HMAC secret"
    } else {
        "private key (PKCS#8 PEM)"
    };
    if json {
        let jwk: Option<Value> = jwk.and_then(|text| serde_json::from_str(&text).ok());
        println!(
            "{}",
            json!({
                "alg": alg.as_str(),
                "kid": key.kid(),
                "out": args.out.display().to_string(),
                "public_jwk": jwk,
                "public_pem": pem,
            })
        );
    } else {
        eprintln!(
            "wrote the {what} to {} (mode 0600); alg {alg}, kid {}",
            args.out.display(),
            key.kid().unwrap_or("(none)")
        );
        match (args.format, jwk, pem) {
            (KeyFormat::Jwk, Some(jwk), _) => println!("{jwk}"),
            (KeyFormat::Pem, _, Some(pem)) => print!("{pem}"),
            _ => eprintln!("(an HMAC secret has no public key: keep the file secret)"),
        }
    }
    Ok(())
}

/// Writes the private part to `path`: a new file with mode 0600 (or the existing one
/// truncated with `force`).
fn write_private(path: &Path, bytes: &[u8], force: bool) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            " (keygen never overwrites a key; --force does)"
        } else {
            ""
        };
        Failure::input(format!("cannot create {}: {e}{hint}", path.display()))
    })?;
    #[cfg(unix)]
    {
        // `--force` over an existing file keeps its mode: set it.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Failure::input(format!("cannot restrict {}: {e}", path.display())))?;
    }
    file.write_all(bytes)
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))
}
