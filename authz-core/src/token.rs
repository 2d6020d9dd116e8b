//! The compact JWS form, taken apart strictly: three segments, unpadded canonical base64url,
//! a header that is a JSON object without duplicate parameters, and claims likewise, with the
//! registered claims typed as RFC 7519 says.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{ErrorKind, Segment};
use crate::json::{Members, NumericDate, OneOrMany, Seen, Str};

/// The three segments of a compact JWS, and the signing input they make.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    /// `header.payload`, exactly as received: the bytes the signature covers.
    pub(crate) signing_input: &'a str,
}

/// Splits a token into exactly three segments. O(n), no allocation.
pub(crate) fn split(token: &str) -> Result<Parts<'_>, ErrorKind> {
    let first = token.find('.').ok_or(ErrorKind::NotEnoughSegments)?;
    let second = token[first + 1..]
        .find('.')
        .ok_or(ErrorKind::NotEnoughSegments)?
        + first
        + 1;
    if token[second + 1..].contains('.') {
        return Err(ErrorKind::TooManySegments);
    }
    Ok(Parts {
        header: &token[..first],
        payload: &token[first + 1..second],
        signature: &token[second + 1..],
        signing_input: &token[..second],
    })
}

/// Strict base64url (the `base64` crate's `URL_SAFE_NO_PAD`): the URL-safe alphabet only, no
/// padding, no whitespace, canonical trailing bits, so that one token has exactly one text.
/// (A decoder of our own saved 2 % of an HS256 request: not worth a second decoder.)
pub(crate) fn decode(segment: &str, which: Segment) -> Result<Vec<u8>, ErrorKind> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ErrorKind::InvalidBase64(which))
}

/// [`decode`] into a caller's buffer, which must hold `segment.len() / 4 * 3 + 3` bytes;
/// returns the decoded length.
pub(crate) fn decode_into(
    segment: &str,
    buf: &mut [u8],
    which: Segment,
) -> Result<usize, ErrorKind> {
    URL_SAFE_NO_PAD
        .decode_slice(segment, buf)
        .map_err(|_| ErrorKind::InvalidBase64(which))
}

/// [`decode`] into `out`, replacing what it held.
pub(crate) fn decode_vec(
    segment: &str,
    out: &mut Vec<u8>,
    which: Segment,
) -> Result<(), ErrorKind> {
    out.clear();
    URL_SAFE_NO_PAD
        .decode_vec(segment, out)
        .map_err(|_| ErrorKind::InvalidBase64(which))
}

/// The JOSE header parameters we act on.
#[derive(Debug, Default)]
pub(crate) struct Header<'a> {
    pub(crate) alg: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) cty: Option<Cow<'a, str>>,
    pub(crate) crit: bool,
}

/// The claims, with the registered ones typed and the rest kept raw.
#[derive(Debug, Default)]
pub(crate) struct Claims<'a> {
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) iss: Option<Cow<'a, str>>,
    pub(crate) sub: Option<Cow<'a, str>>,
    pub(crate) jti: Option<Cow<'a, str>>,
    pub(crate) aud: Option<OneOrMany<'a>>,
    pub(crate) others: Members<'a>,
}

impl Claims<'_> {
    /// Whether a top-level claim is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        match name {
            "exp" => self.exp.is_some(),
            "nbf" => self.nbf.is_some(),
            "iat" => self.iat.is_some(),
            "iss" => self.iss.is_some(),
            "sub" => self.sub.is_some(),
            "jti" => self.jti.is_some(),
            "aud" => self.aud.is_some(),
            _ => self.others.iter().any(|(n, _)| n == name),
        }
    }
}

pub(crate) fn parse_header(json: &[u8]) -> Result<Header<'_>, ErrorKind> {
    let mut failure = None;
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = de::Deserializer::deserialize_map(
        &mut de,
        HeaderVisitor {
            failure: &mut failure,
        },
    );
    finish(
        parsed.and_then(|v| de.end().map(|()| v)),
        failure,
        Segment::Header,
    )
}

/// Parses the claims from text already checked as UTF-8 (so serde does not check it again),
/// borrowing every unescaped string from it.
pub(crate) fn parse_claims(json: &str) -> Result<Claims<'_>, ErrorKind> {
    if !numbers_fit(json) {
        return Err(ErrorKind::InvalidJson(Segment::Payload));
    }
    let mut failure = None;
    let mut de = serde_json::Deserializer::from_str(json);
    let parsed = de::Deserializer::deserialize_map(
        &mut de,
        ClaimsVisitor {
            failure: &mut failure,
        },
    );
    finish(
        parsed.and_then(|v| de.end().map(|()| v)),
        failure,
        Segment::Payload,
    )
}

/// The visitors report their own precise failure through `failure`; any other error is a
/// JSON syntax or shape error of the segment.
fn finish<T>(
    parsed: Result<T, serde_json::Error>,
    failure: Option<ErrorKind>,
    which: Segment,
) -> Result<T, ErrorKind> {
    match (parsed, failure) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(kind)) => Err(kind),
        (Err(_), None) => Err(ErrorKind::InvalidJson(which)),
    }
}

/// Reads a member value, recording `kind()` as the failure if it has the wrong type (made
/// only then: the error may name the claim, and a valid token should not pay for that).
fn value<'de, T, A>(
    map: &mut A,
    failure: &mut Option<ErrorKind>,
    kind: impl FnOnce() -> ErrorKind,
) -> Result<T, A::Error>
where
    T: de::Deserialize<'de>,
    A: MapAccess<'de>,
{
    map.next_value::<T>()
        .inspect_err(|_| *failure = Some(kind()))
}

fn duplicate<E: de::Error>(failure: &mut Option<ErrorKind>, which: Segment) -> E {
    *failure = Some(ErrorKind::DuplicateMember(which));
    E::custom("duplicate member")
}

struct HeaderVisitor<'f> {
    failure: &'f mut Option<ErrorKind>,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let failure = self.failure;
        let mut header = Header::default();
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        let mut seen = Seen::default();
        while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
            let slot = match name.as_ref() {
                "alg" => Some((&mut header.alg, ErrorKind::AlgorithmNotAllowed)),
                "typ" => Some((&mut header.typ, ErrorKind::InvalidTokenType)),
                "kid" => Some((&mut header.kid, ErrorKind::InvalidKeyId)),
                "cty" => Some((&mut header.cty, ErrorKind::InvalidJson(Segment::Header))),
                _ => None,
            };
            match slot {
                Some((field, _)) if field.is_some() => {
                    return Err(duplicate(failure, Segment::Header));
                }
                Some((field, kind)) => {
                    *field = Some(value::<Str<'de>, _>(&mut map, failure, || kind)?.0)
                }
                None => {
                    if name == "crit" && header.crit || seen.repeats(&others, &name, |n| n) {
                        return Err(duplicate(failure, Segment::Header));
                    }
                    header.crit |= name == "crit";
                    map.next_value::<IgnoredAny>()?;
                    others.push(name);
                }
            }
        }
        Ok(header)
    }
}

struct ClaimsVisitor<'f> {
    failure: &'f mut Option<ErrorKind>,
}

impl<'de> Visitor<'de> for ClaimsVisitor<'_> {
    type Value = Claims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let failure = self.failure;
        let mut c = Claims {
            others: Vec::with_capacity(8),
            ..Claims::default()
        };
        let mut seen = Seen::default();
        while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
            let present = match name.as_ref() {
                "exp" | "nbf" | "iat" | "iss" | "sub" | "jti" | "aud" => c.has(&name),
                _ => seen.repeats(&c.others, &name, |(n, _)| n),
            };
            if present {
                return Err(duplicate(failure, Segment::Payload));
            }
            let invalid = || ErrorKind::InvalidClaim(name.to_string());
            let issuer = || ErrorKind::InvalidIssuer;
            let subject = || ErrorKind::InvalidSubject;
            let audience = || ErrorKind::InvalidAudience;
            match name.as_ref() {
                "exp" => c.exp = Some(value::<NumericDate, _>(&mut map, failure, invalid)?.0),
                "nbf" => c.nbf = Some(value::<NumericDate, _>(&mut map, failure, invalid)?.0),
                "iat" => c.iat = Some(value::<NumericDate, _>(&mut map, failure, invalid)?.0),
                "iss" => c.iss = Some(value::<Str<'de>, _>(&mut map, failure, issuer)?.0),
                "sub" => c.sub = Some(value::<Str<'de>, _>(&mut map, failure, subject)?.0),
                "jti" => c.jti = Some(value::<Str<'de>, _>(&mut map, failure, invalid)?.0),
                "aud" => c.aud = Some(value(&mut map, failure, audience)?),
                _ => {
                    let raw = map.next_value::<&'de RawValue>()?;
                    if too_deep(raw.get()) {
                        *failure = Some(ErrorKind::InvalidJson(Segment::Payload));
                        return Err(de::Error::custom("nested too deeply"));
                    }
                    c.others.push((name, raw));
                }
            }
        }
        Ok(c)
    }
}

/// The deepest nesting of arrays and objects accepted in a claim (serde_json's own limit,
/// which it does not apply to the raw values we keep).
const MAX_DEPTH: usize = 128;

/// Whether every number in `json` fits an f64. Claims other than the registered ones are kept
/// raw, unparsed; a number such as `1e999999` in one of them would reach the app as text no
/// f64 can hold (and parsers disagree on what it means), so the token is refused as malformed.
///
/// One pass over the bytes outside strings looks for an exponent (`e`/`E` after a digit) or a
/// run of more than 300 digits; only then is the payload parsed again into a `serde_json::Value`,
/// which refuses numbers out of f64's range.
fn numbers_fit(json: &str) -> bool {
    let bytes = json.as_bytes();
    let (mut i, mut digits, mut suspicious) = (0, 0usize, false);
    let mut previous = 0u8;
    'scan: while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                // A string, skipped whole: most of a payload's bytes, and none counts here.
                i += 1;
                loop {
                    let rest = bytes.get(i..).unwrap_or_default();
                    match rest.iter().position(|&c| c == b'"' || c == b'\\') {
                        Some(at) if bytes[i + at] == b'\\' => i += at + 2,
                        Some(at) => {
                            i += at;
                            break;
                        }
                        None => break 'scan,
                    }
                }
            }
            b'0'..=b'9' => {
                digits += 1;
                suspicious |= digits > 300;
            }
            b'e' | b'E' if previous.is_ascii_digit() || previous == b'.' => suspicious = true,
            _ => {}
        }
        if !b.is_ascii_digit() {
            digits = 0;
        }
        previous = b;
        i += 1;
    }
    // `IgnoredAny` only scans numbers; a `Value` converts them, and refuses what no f64 holds.
    !suspicious || serde_json::from_str::<serde_json::Value>(json).is_ok()
}

/// Whether a raw JSON value nests deeper than [`MAX_DEPTH`]. Values shorter than twice the
/// limit cannot, and are not scanned.
fn too_deep(json: &str) -> bool {
    if json.len() <= 2 * MAX_DEPTH {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_no_f64_holds_are_refused() {
        for bad in [
            r#"{"sub":"a","x":1e999999}"#,
            r#"{"sub":"a","x":-1E400}"#,
            r#"{"sub":"a","x":{"y":[1.5e309]}}"#,
        ] {
            assert!(!numbers_fit(bad), "{bad}");
            assert_eq!(
                parse_claims(bad).unwrap_err(),
                ErrorKind::InvalidJson(Segment::Payload)
            );
        }
        // Strings are skipped whole, escapes included, wherever they end.
        for text in [r#"{"a":"\\"}"#, r#"{"a":"x\"#, r#"{"a":"x\\"#, r#"{"a":"x"#] {
            assert!(numbers_fit(text), "{text}");
        }
        assert!(numbers_fit(r#"{"a\"1e999":"\"1e999"}"#));
        assert!(!numbers_fit(r#"{"a":"\\","x":1e999}"#));
        let long = format!(r#"{{"sub":"a","x":{}}}"#, "9".repeat(400));
        assert!(!numbers_fit(&long));
        for good in [
            r#"{"sub":"a","x":1e300,"y":-2.5E-300,"z":"1e999999","w":true}"#,
            r#"{"sub":"a","x":12345678901234567890123}"#,
            r#"{"sub":"a\"1e999","x":0.1}"#,
        ] {
            assert!(numbers_fit(good), "{good}");
            assert!(parse_claims(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn split_counts_segments() {
        assert_eq!(split("a.b").unwrap_err(), ErrorKind::NotEnoughSegments);
        assert_eq!(split("abc").unwrap_err(), ErrorKind::NotEnoughSegments);
        assert_eq!(split("a.b.c.d.e").unwrap_err(), ErrorKind::TooManySegments);
        let parts = split("h.p.s").unwrap();
        assert_eq!(
            (parts.header, parts.payload, parts.signature),
            ("h", "p", "s")
        );
        assert_eq!(parts.signing_input, "h.p");
    }

    /// What `b64.rs` (the decoder this crate had) refused, the crate refuses.
    #[test]
    fn base64_known_values_and_refusals() {
        let ok = |s: &str| decode(s, Segment::Payload).unwrap();
        assert_eq!(ok(""), b"");
        assert_eq!(ok("Zg"), b"f");
        assert_eq!(ok("Zm8"), b"fo");
        assert_eq!(ok("Zm9v"), b"foo");
        assert_eq!(ok("-_-_"), [0xfb, 0xff, 0xbf]);
        for bad in [
            "Zh",        // non-zero trailing bits
            "Zm9",       // ditto
            "Z",         // 4n + 1
            "Zm9v=",     // padding
            "Zm8=",      // padding
            "Zm+v",      // standard alphabet
            "Zm/v",      // standard alphabet
            "Zm v",      // whitespace
            "Zm9v\n",    // newline
            "Zm9\u{e9}", // non-ASCII
            "Zm9.",      // dot
        ] {
            assert!(decode(bad, Segment::Payload).is_err(), "{bad:?}");
            let mut buf = [0u8; 16];
            assert!(
                decode_into(bad, &mut buf, Segment::Payload).is_err(),
                "{bad:?}"
            );
        }
        let mut out = b"old".to_vec();
        assert!(decode_vec("Zm9v", &mut out, Segment::Signature).is_ok());
        assert_eq!(out, b"foo");
    }

    #[test]
    fn base64_is_strict() {
        assert!(decode("eyJhIjoxfQ", Segment::Header).is_ok());
        for bad in [
            "eyJhIjoxfQ==",
            "eyJhIjox fQ",
            "eyJhIjox+Q",
            "eyJhIjox/Q",
            "eyJhIjoxfR",
        ] {
            assert!(decode(bad, Segment::Header).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_rules() {
        let h =
            parse_header(br#"{"alg":"HS256","typ":"JWT","kid":"k","x5u":"https://x"}"#).unwrap();
        assert_eq!(h.alg.as_deref(), Some("HS256"));
        assert!(!h.crit);
        assert!(parse_header(br#"{"alg":"HS256","crit":[]}"#).unwrap().crit);
        let dup = parse_header(br#"{"alg":"HS256","alg":"none"}"#).unwrap_err();
        assert_eq!(dup, ErrorKind::DuplicateMember(Segment::Header));
        let dup_unknown = parse_header(br#"{"alg":"HS256","x":1,"x":2}"#).unwrap_err();
        assert_eq!(dup_unknown, ErrorKind::DuplicateMember(Segment::Header));
        assert_eq!(
            parse_header(br#"{"alg":1}"#).unwrap_err(),
            ErrorKind::AlgorithmNotAllowed
        );
        assert_eq!(
            parse_header(br#"{"kid":["a"]}"#).unwrap_err(),
            ErrorKind::InvalidKeyId
        );
        assert_eq!(
            parse_header(b"[]").unwrap_err(),
            ErrorKind::InvalidJson(Segment::Header)
        );
        assert_eq!(
            parse_header(b"\xef\xbb\xbf{}").unwrap_err(),
            ErrorKind::InvalidJson(Segment::Header)
        );
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(too_deep(&deep));
        let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(!too_deep(&ok));
        let in_string = format!("\"{}\"", "[".repeat(300));
        assert!(!too_deep(&in_string));
    }

    #[test]
    fn claims_are_typed() {
        let c = parse_claims(r#"{"sub":"a","exp":1.5,"aud":["x","y"],"role":"r"}"#).unwrap();
        assert_eq!(c.exp, Some(1.5));
        assert_eq!(c.aud.unwrap().iter().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(c.others.len(), 1);
        let err = |json: &str| parse_claims(json).unwrap_err();
        assert_eq!(err(r#"{"exp":"1"}"#), ErrorKind::InvalidClaim("exp".into()));
        assert_eq!(err(r#"{"iss":["a"]}"#), ErrorKind::InvalidIssuer);
        assert_eq!(err(r#"{"sub":1}"#), ErrorKind::InvalidSubject);
        assert_eq!(err(r#"{"aud":1}"#), ErrorKind::InvalidAudience);
        assert_eq!(
            err(r#"{"role":"a","role":"b"}"#),
            ErrorKind::DuplicateMember(Segment::Payload)
        );
        assert_eq!(
            err(r#"{"exp":1,"exp":2}"#),
            ErrorKind::DuplicateMember(Segment::Payload)
        );
        assert_eq!(
            err(r#"{"a":1}trailing"#),
            ErrorKind::InvalidJson(Segment::Payload)
        );
    }
}
