//! A token taken apart without verifying anything: what `decode --insecure` prints and what
//! `explain` reads its facts from. The verdict is always the [`Verifier`]'s; nothing here
//! accepts a token.
//!
//! [`Verifier`]: authz_axum::Verifier

use std::io::Read as _;

use authz_axum::ErrorKind;
use authz_axum::core::Segment;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::outcome::Failure;

/// A JSON object.
pub(crate) type Object = Map<String, Value>;

/// The parts of a token, read without any check of the signature.
#[derive(Debug)]
pub(crate) struct Unverified {
    /// The token's length in bytes.
    pub(crate) len: usize,
    /// How many dot-separated segments it has.
    pub(crate) segments: usize,
    /// The header, or why it could not be read (with PyJWT's message).
    pub(crate) header: Result<Object, ErrorKind>,
    /// The claims, or why they could not be read.
    pub(crate) claims: Result<Object, ErrorKind>,
}

impl Unverified {
    /// Takes `token` apart.
    pub(crate) fn read(token: &str) -> Self {
        let parts: Vec<&str> = token.split('.').collect();
        let (header, claims) = match parts.as_slice() {
            [header, claims, _] => (
                object(header, Segment::Header),
                object(claims, Segment::Payload),
            ),
            few if few.len() < 3 => (
                Err(ErrorKind::NotEnoughSegments),
                Err(ErrorKind::NotEnoughSegments),
            ),
            _ => (
                Err(ErrorKind::TooManySegments),
                Err(ErrorKind::TooManySegments),
            ),
        };
        Self {
            len: token.len(),
            segments: parts.len(),
            header,
            claims,
        }
    }

    /// A header parameter, when the header could be read.
    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        self.header.as_ref().ok()?.get(name)?.as_str()
    }

    /// A claim, when the claims could be read.
    pub(crate) fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.as_ref().ok()?.get(name)
    }

    /// A numeric claim (`exp`, `nbf`, `iat`).
    pub(crate) fn time(&self, name: &str) -> Option<f64> {
        self.claim(name)?.as_f64()
    }
}

/// One segment as a JSON object.
fn object(segment: &str, which: Segment) -> Result<Object, ErrorKind> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ErrorKind::InvalidBase64(which))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ErrorKind::InvalidJson(which)),
    }
}

/// The token argument: as given, or read from standard input for `-` (surrounding whitespace
/// removed either way).
pub(crate) fn token_arg(arg: &str) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut token = String::new();
    std::io::stdin()
        .read_to_string(&mut token)
        .map_err(|e| Failure::input(format!("cannot read the token from standard input: {e}")))?;
    Ok(token.trim().to_owned())
}
