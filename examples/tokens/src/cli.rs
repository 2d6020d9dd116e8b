//! The command line: subcommands and their options (clap derive). Each subcommand's work is
//! in the file named after it; `decode` shares `verify.rs` with `verify`.

use std::path::PathBuf;

use authz_axum::Algorithm;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::time::parse_duration;

/// Keys, tokens and verification for authz, from the command line.
///
/// Exit status: 0 done (token accepted), 1 token refused, 2 usage or input error.
/// Secrets are never printed unless asked for with `--out -`.
#[derive(Debug, Parser)]
#[command(name = "authz", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Print JSON on standard output (for scripts) instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Generate a signing key: the private key (or HMAC secret) goes to a file, the public key
    /// is printed; kid = the key's RFC 7638 thumbprint.
    Keygen(KeygenArgs),
    /// Sign a token, like PyJWT's `jwt.encode`: claims from JSON and/or flags; `iat`, `exp`
    /// and `jti` are added.
    Encode(EncodeArgs),
    /// Print a token's header and claims: verified with a key, or unverified with `--insecure`.
    Decode(DecodeArgs),
    /// Verify a token: exit 0 if accepted, 1 with PyJWT's message of why it was refused.
    Verify(VerifyArgs),
    /// Run every check of a verifier configuration on a token and print each one's result,
    /// the first failure and the verdict (the same as `verify` with the same options).
    Explain(VerifyArgs),
    /// Print the public JWKS of keys (PEM or JWK files; HMAC secrets are never published).
    Jwks(JwksArgs),
    /// Replay seed 000's PyJWT tutorial: encode, decode, a wrong key, an expired token.
    Demo,
}

/// `authz keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The algorithm: HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA.
    #[arg(value_parser = parse_alg, value_name = "ALG")]
    pub(crate) alg: Algorithm,

    /// Where the private key (PKCS#8 PEM) or the HMAC secret goes; `-` prints it on standard
    /// output (and nothing else). The file is created with mode 0600 and never overwritten
    /// unless `--force`.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: PathBuf,

    /// The format of the printed public key (and of an HMAC secret's file).
    #[arg(long, value_enum, default_value_t = KeyFormat::Jwk)]
    pub(crate) format: KeyFormat,

    /// The key id (default: the RFC 7638 thumbprint; HMAC secrets have none by default,
    /// since a thumbprint would publish a hash of the secret).
    #[arg(long)]
    pub(crate) kid: Option<String>,

    /// RSA modulus size: 2048, 3072 or 4096.
    #[arg(long, default_value_t = 2048)]
    pub(crate) bits: usize,

    /// Overwrite `--out` if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

/// How keys are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyFormat {
    /// PEM: SubjectPublicKeyInfo for the public key; an HMAC secret as its text.
    Pem,
    /// JWK (RFC 7517): the public key as a JWK; an HMAC secret as an `oct` JWK.
    Jwk,
}

/// Where keys come from: files (`--key`), or an HMAC secret in an environment variable.
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// A key file: PEM (private or public), a JWK, a JWKS, or an HMAC secret (the file's text,
    /// one trailing newline removed). Repeat for several verification keys.
    #[arg(long = "key", short = 'k', value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,

    /// The HMAC secret is the value of this environment variable (its bytes, as given).
    /// Without `--key`, `AUTHZ_SECRET` is used when set.
    #[arg(long, value_name = "VAR")]
    pub(crate) secret_env: Option<String>,

    /// The algorithm of a PEM key or an HMAC secret (default: HS256 for a secret, the curve's
    /// for EC and Ed25519 keys; RSA keys need it). JWKs carry their own.
    #[arg(long, value_parser = parse_alg, value_name = "ALG")]
    pub(crate) alg: Option<Algorithm>,

    /// The key id (default for a PEM key: none when verifying with one key, which then
    /// accepts any `kid`; its thumbprint when signing or when several keys are given).
    #[arg(long)]
    pub(crate) kid: Option<String>,
}

/// `authz encode`.
#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    #[command(flatten)]
    pub(crate) key: KeyArgs,

    /// The subject (`sub`); same as `--sub`.
    #[arg(value_name = "SUBJECT")]
    pub(crate) subject: Option<String>,

    /// Roles after the subject (the `roles` claim); same as `--role`.
    #[arg(value_name = "ROLE")]
    pub(crate) roles: Vec<String>,

    /// Claims as a JSON object; `@FILE` reads a file, `-` standard input. Flags win over it.
    #[arg(long, value_name = "JSON")]
    pub(crate) claims: Option<String>,

    /// The subject (`sub`).
    #[arg(long, conflicts_with = "subject")]
    pub(crate) sub: Option<String>,

    /// A role (the `roles` array). Repeatable.
    #[arg(long = "role", value_name = "ROLE")]
    pub(crate) role_flags: Vec<String>,

    /// A scope (the space-separated `scope` claim). Repeatable.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,

    /// The issuer (`iss`).
    #[arg(long)]
    pub(crate) iss: Option<String>,

    /// An audience (`aud`). Repeatable.
    #[arg(long = "aud", value_name = "AUD")]
    pub(crate) audiences: Vec<String>,

    /// The header `typ` (default `JWT`), e.g. `at+jwt`.
    #[arg(long)]
    pub(crate) typ: Option<String>,

    /// The lifetime: `exp = iat + ttl` unless the claims carry `exp` (`90`, `90s`, `15m`, `1h`, `7d`).
    #[arg(long, value_parser = parse_duration, default_value = "1h", value_name = "DURATION")]
    pub(crate) ttl: std::time::Duration,

    /// Any claim, `NAME=VALUE`; VALUE is JSON when it parses as JSON (`exp=1700000000`,
    /// `admin=true`, `tags=["a"]`), a string otherwise. Repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub(crate) claim_flags: Vec<String>,
}

/// The verifier's settings, shared by `verify`, `explain` and `decode`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) key: KeyArgs,

    /// An accepted issuer (`iss` is then required). Repeatable.
    #[arg(long = "iss", value_name = "ISS")]
    pub(crate) issuers: Vec<String>,

    /// An accepted audience (`aud` is then required). Without one, a token that has an `aud`
    /// is refused ("Invalid audience"), as PyJWT does. Repeatable.
    #[arg(long = "aud", value_name = "AUD")]
    pub(crate) audiences: Vec<String>,

    /// The required header `typ` (case-insensitive, `application/` optional), e.g. `at+jwt`.
    #[arg(long)]
    pub(crate) typ: Option<String>,

    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in seconds (at most 60).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub(crate) leeway: u64,

    /// Also require this claim. Repeatable (`exp` and `sub` always are).
    #[arg(long = "require", value_name = "CLAIM")]
    pub(crate) required: Vec<String>,

    /// Refuse tokens whose `exp - iat` is longer than this (`15m`, `1h`, …).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) max_lifetime: Option<std::time::Duration>,

    /// Check the time claims at this instant (Unix seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub(crate) now: Option<u64>,

    /// Accept any `aud` when no `--aud` is given (RFC 8725 §3.9: a token minted for another
    /// service is then accepted).
    #[arg(long)]
    pub(crate) insecure_any_audience: bool,

    /// Accept tokens without `exp`, which never expire (RFC 8725 §3.10).
    #[arg(long)]
    pub(crate) insecure_allow_missing_exp: bool,

    /// The token, or `-` to read it from standard input (keeps it out of shell history).
    #[arg(value_name = "TOKEN")]
    pub(crate) token: String,
}

/// `authz decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// Decode without verifying anything (no key): the output is marked unverified.
    #[arg(long)]
    pub(crate) insecure: bool,

    #[command(flatten)]
    pub(crate) verify: VerifyArgs,
}

/// `authz jwks`.
#[derive(Debug, Args)]
pub(crate) struct JwksArgs {
    /// Key files: PEM (private or public), JWK or JWKS.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,

    /// The algorithm of PEM keys (needed for RSA).
    #[arg(long, value_parser = parse_alg, value_name = "ALG")]
    pub(crate) alg: Option<Algorithm>,
}

/// An algorithm name, case-sensitive as in a JWS header.
fn parse_alg(name: &str) -> Result<Algorithm, String> {
    name.parse().map_err(|_| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|alg| alg.as_str()).collect();
        format!("not a supported algorithm; one of {}", names.join(", "))
    })
}
