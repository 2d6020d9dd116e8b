//! `authz`: keys, tokens and verification from the command line — seed 000's PyJWT session
//! (`jwt.encode`, `jwt.decode`, the errors you get) grown into the tool you want at 2 am when
//! production refuses a token.
//!
//! ```text
//! authz keygen ES256 --out key.pem          # a key pair: private PEM to a file, kid = thumbprint
//! authz encode --key key.pem alice admin    # a token for alice with role admin
//! authz decode --key key.pem TOKEN          # header and claims, verified
//! authz verify --key key.pem --aud api TOKEN
//! authz explain --key key.pem --aud api TOKEN   # every check, its result, the first failure
//! authz jwks key.pem                        # the public JWKS
//! authz demo                                # the seed-000 tutorial, replayed
//! ```
//!
//! Exit status: 0 when the command did what it says (for `verify`/`explain`/`decode`: the token
//! was accepted), 1 when a token was refused, 2 for a usage or input error (a bad flag, an
//! unreadable or weak key, a configuration the verifier refuses). The README of
//! `examples/tokens` documents every subcommand, option and message.
//!
//! Secrets are never printed: an HMAC secret or a private key goes to a file, or to standard
//! output only when asked for with `--out -`; errors name keys by file, never by content.

mod cli;
mod demo;
mod encode;
mod explain;
mod inspect;
mod jwks;
mod keygen;
mod keys;
mod outcome;
mod time;
mod verify;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(&args, json),
        Command::Encode(args) => encode::run(&args, json),
        Command::Decode(args) => verify::decode(&args, json),
        Command::Verify(args) => verify::run(&args, json),
        Command::Explain(args) => explain::run(&args, json),
        Command::Jwks(args) => jwks::run(&args, json),
        Command::Demo => demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(json),
    }
}
