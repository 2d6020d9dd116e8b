//! `authz explain`: every check of a verifier configuration on one token, each with its result
//! — the tool for the night production refuses a token.
//!
//! The verdict is the real [`Verifier`]'s, built by the same code as `verify`'s
//! ([`Settings::verifier`]), so `explain` and `verify` never disagree. The verifier stops at
//! the first failure; `explain` lists the checks in the verifier's order, so every check
//! before the failing one passed *in the verifier*, the failing one carries the verifier's
//! own message, and the checks after it are marked *not reached*, with what the token itself
//! says about them (read without verification: a hint of what comes next, never a verdict).
//!
//! [`Verifier`]: authz_axum::Verifier

use authz_axum::core::Segment;
use authz_axum::core::verify::DEFAULT_MAX_TOKEN_LEN;
use authz_axum::{Error, ErrorKind, KeySet, Principal, VerifyingKey};
use serde_json::{Value, json};

use crate::cli::VerifyArgs;
use crate::inspect::{Unverified, token_arg};
use crate::outcome::Failure;
use crate::time::{numeric_date, relative, rfc3339, span};
use crate::verify::{Settings, describe};

/// One check of the verifier, in the order it runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// The size cap, before any decoding.
    Size,
    /// Three dot-separated segments.
    Segments,
    /// The header: base64url JSON object, an `alg`, no `crit`, no `cty: JWT`, a valid `kid`.
    Header,
    /// A trusted key for the header's `kid`.
    Key,
    /// The header's `alg` is the key's algorithm.
    Alg,
    /// The signature, with that key.
    Signature,
    /// The header `typ`, when one is required.
    Typ,
    /// The claims: a JSON object, registered claims of their RFC types.
    Claims,
    /// `exp`, `sub` and the claims `--require` names are present.
    Required,
    /// Not expired.
    Exp,
    /// Not before `nbf`.
    Nbf,
    /// Not issued in the future.
    Iat,
    /// `exp - iat` within `--max-lifetime`.
    Lifetime,
    /// `iss` accepted.
    Iss,
    /// `aud` accepted.
    Aud,
    /// `sub` non-empty.
    Sub,
    /// Roles, scopes and permissions readable.
    Grants,
    /// A refusal this version of `explain` does not know (shown only when it happens).
    Other,
}

impl Check {
    /// Every check, in the verifier's order.
    const ALL: [Self; 18] = [
        Self::Size,
        Self::Segments,
        Self::Header,
        Self::Key,
        Self::Alg,
        Self::Signature,
        Self::Typ,
        Self::Claims,
        Self::Required,
        Self::Exp,
        Self::Nbf,
        Self::Iat,
        Self::Lifetime,
        Self::Iss,
        Self::Aud,
        Self::Sub,
        Self::Grants,
        Self::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Segments => "segments",
            Self::Header => "header",
            Self::Key => "key",
            Self::Alg => "alg",
            Self::Signature => "signature",
            Self::Typ => "typ",
            Self::Claims => "claims",
            Self::Required => "required",
            Self::Exp => "exp",
            Self::Nbf => "nbf",
            Self::Iat => "iat",
            Self::Lifetime => "lifetime",
            Self::Iss => "iss",
            Self::Aud => "aud",
            Self::Sub => "sub",
            Self::Grants => "grants",
            Self::Other => "other",
        }
    }
}

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// The verifier ran it and it passed.
    Pass,
    /// Not configured (no `--typ`, no `--iss`, …).
    Off,
    /// The verifier's first failure.
    Fail,
    /// After the first failure: the verifier did not run it.
    NotReached,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Off => "off",
            Self::Fail => "FAIL",
            Self::NotReached => "not reached",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Off => "off",
            Self::Fail => "fail",
            Self::NotReached => "not_reached",
        }
    }
}

/// What the token itself says about one check (read without verification).
#[derive(Debug)]
struct Reading {
    /// `Some(true)` would pass, `Some(false)` would fail, `None` cannot tell from the token.
    passes: Option<bool>,
    /// The check is not configured.
    off: bool,
    /// The facts, for people.
    detail: String,
}

impl Reading {
    fn pass(detail: impl Into<String>) -> Self {
        Self::of(true, detail)
    }

    fn fail(detail: impl Into<String>) -> Self {
        Self::of(false, detail)
    }

    fn of(passes: bool, detail: impl Into<String>) -> Self {
        Self {
            passes: Some(passes),
            off: false,
            detail: detail.into(),
        }
    }

    fn off(detail: impl Into<String>) -> Self {
        Self {
            passes: None,
            off: true,
            detail: detail.into(),
        }
    }

    fn unknown(detail: impl Into<String>) -> Self {
        Self {
            passes: None,
            off: false,
            detail: detail.into(),
        }
    }
}

/// One line of the report.
#[derive(Debug)]
struct Row {
    check: Check,
    status: Status,
    detail: String,
    /// For a check not reached: what the unverified token says.
    unverified: Option<bool>,
}

/// `authz explain`.
pub(crate) fn run(args: &VerifyArgs, json: bool) -> Result<(), Failure> {
    let token = token_arg(&args.token)?;
    let settings = Settings::from_args(args)?.ok_or_else(|| {
        Failure::input(format!(
            "no key to verify with: give --key FILE or set {}",
            crate::keys::DEFAULT_SECRET_ENV
        ))
    })?;
    let verifier = settings.verifier(args)?;
    let verdict = verifier.verify(&token);
    let unverified = Unverified::read(&token);
    let reader = Reader {
        token: &unverified,
        args,
        keys: &settings.keys,
        now: settings.now,
        leeway: args.leeway as f64,
    };
    let first = verdict
        .as_ref()
        .err()
        .map(|err| reader.check_of(err.kind()));
    let rows = rows(&reader, &verdict, first);
    if json {
        let checks: Vec<Value> = rows
            .iter()
            .map(|row| {
                json!({
                    "check": row.check.name(),
                    "status": row.status.code(),
                    "detail": row.detail,
                    "unverified": row.unverified.map(|p| if p { "pass" } else { "fail" }),
                })
            })
            .collect();
        let report = match &verdict {
            Ok(principal) => json!({
                "valid": true,
                "sub": principal.subject(),
                "now": numeric_date(settings.now),
                "checks": checks,
            }),
            Err(err) => json!({
                "valid": false,
                "code": err.code(),
                "message": err.message(),
                "first_failure": first.map(Check::name),
                "now": numeric_date(settings.now),
                "checks": checks,
            }),
        };
        println!("{report}");
    } else {
        println!(
            "checking at {}{}, leeway {}s, against {} trusted key(s)\n",
            rfc3339(settings.now),
            if args.now.is_some() { " (--now)" } else { "" },
            args.leeway,
            settings.keys.len()
        );
        for row in &rows {
            let detail = match row.unverified {
                Some(true) => format!("would pass: {}", row.detail),
                Some(false) => format!("would fail: {}", row.detail),
                None => row.detail.clone(),
            };
            let marker = if row.status == Status::Fail { ">" } else { " " };
            println!(
                "{marker} {:<11}  {:<9}  {detail}",
                row.status.name(),
                row.check.name()
            );
        }
        println!();
        match &verdict {
            Ok(principal) => println!("verdict: accepted ({})", describe(principal, settings.now)),
            Err(err) => {
                println!(
                    "verdict: refused at {}: {err} ({})",
                    first.map_or("?", Check::name),
                    err.code()
                );
                println!(
                    "(the verifier stops at the first failure; \"not reached\" lines are read from \
                     the unverified token)"
                );
            }
        }
    }
    match verdict {
        Ok(_) => Ok(()),
        Err(_) => Err(Failure::Reported),
    }
}

/// The report's lines: every check in the verifier's order, with its status from the
/// verifier's verdict and its facts from the token.
fn rows(reader: &Reader<'_>, verdict: &Result<Principal, Error>, first: Option<Check>) -> Vec<Row> {
    Check::ALL
        .into_iter()
        .filter(|&check| check != Check::Other || first == Some(Check::Other))
        .map(|check| {
            let reading = reader.read(check, verdict.as_ref().ok());
            let status = match first {
                Some(first) if first == check => Status::Fail,
                // Not configured is not configured, before the failure or after it.
                _ if reading.off => Status::Off,
                Some(first) if check > first => Status::NotReached,
                _ => Status::Pass,
            };
            let detail = match (status, verdict) {
                (Status::Fail, Err(err)) if reading.detail.is_empty() => err.to_string(),
                (Status::Fail, Err(err)) => format!("{err} — {}", reading.detail),
                _ => reading.detail,
            };
            Row {
                check,
                status,
                detail,
                unverified: reading.passes.filter(|_| status == Status::NotReached),
            }
        })
        .collect()
}

/// Reads each check's facts from the unverified token and the settings.
struct Reader<'a> {
    token: &'a Unverified,
    args: &'a VerifyArgs,
    keys: &'a KeySet,
    now: f64,
    leeway: f64,
}

impl Reader<'_> {
    /// The check that refused with `kind`, in the verifier's order.
    fn check_of(&self, kind: &ErrorKind) -> Check {
        const REGISTERED: [&str; 7] = ["exp", "nbf", "iat", "iss", "sub", "jti", "aud"];
        let configured = |name: &str, list: &[String]| {
            !list.is_empty() && !self.args.required.iter().any(|r| r == name)
        };
        match kind {
            ErrorKind::TooLarge => Check::Size,
            ErrorKind::NotEnoughSegments | ErrorKind::TooManySegments => Check::Segments,
            ErrorKind::InvalidBase64(Segment::Header)
            | ErrorKind::InvalidJson(Segment::Header)
            | ErrorKind::DuplicateMember(Segment::Header)
            | ErrorKind::UnsupportedCritical
            | ErrorKind::NestedToken
            | ErrorKind::InvalidKeyId => Check::Header,
            // A header without `alg` is refused before the key is chosen.
            ErrorKind::AlgorithmNotAllowed if self.token.header_str("alg").is_none() => {
                Check::Header
            }
            ErrorKind::AlgorithmNotAllowed => Check::Alg,
            ErrorKind::UnknownKeyId | ErrorKind::MissingKeyId | ErrorKind::KeysUnavailable => {
                Check::Key
            }
            ErrorKind::InvalidSignature | ErrorKind::InvalidBase64(Segment::Signature) => {
                Check::Signature
            }
            ErrorKind::InvalidTokenType => Check::Typ,
            ErrorKind::InvalidBase64(_)
            | ErrorKind::InvalidJson(_)
            | ErrorKind::DuplicateMember(_) => Check::Claims,
            ErrorKind::InvalidClaim(name) if REGISTERED.contains(&name.as_str()) => Check::Claims,
            ErrorKind::InvalidClaim(_) => Check::Grants,
            ErrorKind::MissingClaim(name)
                if name == "iss" && configured("iss", &self.args.issuers) =>
            {
                Check::Iss
            }
            ErrorKind::MissingClaim(name)
                if name == "aud" && configured("aud", &self.args.audiences) =>
            {
                Check::Aud
            }
            ErrorKind::MissingClaim(_) => Check::Required,
            ErrorKind::Expired => Check::Exp,
            ErrorKind::NotYetValid => Check::Nbf,
            ErrorKind::IssuedInFuture => Check::Iat,
            ErrorKind::LifetimeTooLong => Check::Lifetime,
            ErrorKind::InvalidIssuer => Check::Iss,
            ErrorKind::InvalidAudience => Check::Aud,
            ErrorKind::InvalidSubject => Check::Sub,
            _ => Check::Other,
        }
    }

    /// What the token and the settings say about `check`; `accepted` is the verified
    /// principal, when the verifier accepted the token.
    fn read(&self, check: Check, accepted: Option<&Principal>) -> Reading {
        let t = self.token;
        match check {
            Check::Size => Reading::of(
                t.len <= DEFAULT_MAX_TOKEN_LEN,
                format!("{} bytes (limit {DEFAULT_MAX_TOKEN_LEN})", t.len),
            ),
            Check::Segments => Reading::of(
                t.segments == 3,
                format!("{} segments (a signed JWT has 3)", t.segments),
            ),
            Check::Header => match &t.header {
                Ok(header) => {
                    let cty_jwt = header
                        .get("cty")
                        .and_then(Value::as_str)
                        .is_some_and(|cty| cty.eq_ignore_ascii_case("JWT"));
                    Reading::of(
                        header.contains_key("alg") && !header.contains_key("crit") && !cty_jwt,
                        Value::Object(header.clone()).to_string(),
                    )
                }
                Err(kind) => Reading::fail(kind.to_string()),
            },
            Check::Key => self.read_key(),
            Check::Alg => match (t.header_str("alg"), self.selected()) {
                (Some(alg), Some(key)) if alg == key.algorithm().as_str() => {
                    Reading::pass(format!("{alg}, the key's algorithm"))
                }
                (Some(alg), Some(key)) => Reading::fail(format!(
                    "the token says {alg:?}, the key is {} (alg is never taken from the token)",
                    key.algorithm()
                )),
                (Some(alg), None) => Reading::unknown(format!("the token says {alg:?}")),
                (None, _) => Reading::unknown(""),
            },
            Check::Signature => match self.selected() {
                Some(key) => {
                    Reading::unknown(format!("{} signature, the selected key", key.algorithm()))
                }
                None => Reading::unknown("needs a trusted key for the token"),
            },
            Check::Typ => {
                let typ = t.header_str("typ");
                match &self.args.typ {
                    None => Reading::off(format!("not required (token: {})", shown(typ))),
                    Some(required) => Reading::of(
                        typ.is_some_and(|typ| typ_matches(typ, required)),
                        format!("token: {}, required: {required:?}", shown(typ)),
                    ),
                }
            }
            Check::Claims => match &t.claims {
                Ok(claims) => match mistyped(claims) {
                    None => Reading::pass(format!("JSON object, {} claims", claims.len())),
                    Some(name) => Reading::fail(format!("{name:?} has the wrong type")),
                },
                Err(kind) => Reading::fail(kind.to_string()),
            },
            Check::Required => self.read_required(),
            Check::Exp => self.read_exp(),
            Check::Nbf => match t.time("nbf") {
                None => Reading::pass("no nbf"),
                Some(nbf) => Reading::of(
                    self.now + self.leeway >= nbf,
                    format!(
                        "not before {} ({}{})",
                        rfc3339(nbf),
                        relative(nbf, self.now),
                        self.leeway_note()
                    ),
                ),
            },
            Check::Iat => match t.time("iat") {
                None => Reading::pass("no iat"),
                Some(iat) => Reading::of(
                    iat <= self.now + self.leeway,
                    format!(
                        "issued {} ({}{})",
                        rfc3339(iat),
                        relative(iat, self.now),
                        self.leeway_note()
                    ),
                ),
            },
            Check::Lifetime => match (self.args.max_lifetime, t.time("exp")) {
                (None, _) => Reading::off("no maximum (--max-lifetime)"),
                (Some(max), Some(exp)) => {
                    let lifetime = exp - t.time("iat").unwrap_or(self.now);
                    Reading::of(
                        lifetime <= max.as_secs_f64(),
                        format!(
                            "{} (maximum {})",
                            span(lifetime.max(0.0)),
                            span(max.as_secs_f64())
                        ),
                    )
                }
                (Some(_), None) => Reading::pass("no exp"),
            },
            Check::Iss => self.read_iss(),
            Check::Aud => self.read_aud(),
            Check::Sub => match t.claim("sub").and_then(Value::as_str) {
                Some("") => Reading::fail("empty"),
                Some(sub) => Reading::pass(format!("{sub:?}")),
                None => Reading::unknown("absent or not a string"),
            },
            Check::Grants => match accepted {
                Some(principal) => Reading::pass(format!(
                    "roles {:?}, scopes {:?}, permissions {:?}",
                    principal.roles().collect::<Vec<_>>(),
                    principal.scopes().collect::<Vec<_>>(),
                    principal.permissions().collect::<Vec<_>>()
                )),
                None => Reading::unknown("read by the claim mapping (roles, scope, permissions)"),
            },
            Check::Other => Reading::unknown(""),
        }
    }

    /// The trusted key the token's `kid` selects, as the verifier selects it.
    fn selected(&self) -> Option<&VerifyingKey> {
        self.token.header.as_ref().ok()?;
        let keys = self.keys.keys();
        match (self.token.header_str("kid"), keys) {
            (Some(kid), [only]) => self.keys.get(kid).or(only.kid().is_none().then_some(only)),
            (Some(kid), _) => self.keys.get(kid),
            (None, [only]) => Some(only),
            (None, _) => None,
        }
    }

    fn read_key(&self) -> Reading {
        if self.token.header.is_err() {
            return Reading::unknown("");
        }
        let kid = self.token.header_str("kid");
        let trusted: Vec<&str> = self
            .keys
            .keys()
            .iter()
            .filter_map(VerifyingKey::kid)
            .collect();
        match (self.selected(), kid) {
            (Some(key), Some(kid)) if key.kid().is_none() => Reading::pass(format!(
                "kid {kid:?}: the only trusted key ({}, no kid) takes any kid",
                key.algorithm()
            )),
            (Some(key), Some(kid)) => {
                Reading::pass(format!("kid {kid:?} → {} key", key.algorithm()))
            }
            (Some(key), None) => Reading::pass(format!(
                "no kid: the only trusted key ({})",
                key.algorithm()
            )),
            (None, Some(kid)) => Reading::fail(format!("kid {kid:?}; trusted kids: {trusted:?}")),
            (None, None) => Reading::fail(format!(
                "no kid, and {} keys are trusted: {trusted:?}",
                self.keys.len()
            )),
        }
    }

    fn read_required(&self) -> Reading {
        let Ok(claims) = &self.token.claims else {
            return Reading::unknown("");
        };
        let mut names = vec!["sub"];
        if !self.args.insecure_allow_missing_exp {
            names.insert(0, "exp");
        }
        names.extend(self.args.required.iter().map(String::as_str));
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| !claims.contains_key(*name))
            .collect();
        if missing.is_empty() {
            Reading::pass(format!("present: {}", names.join(", ")))
        } else {
            Reading::fail(format!("missing: {}", missing.join(", ")))
        }
    }

    fn read_exp(&self) -> Reading {
        let Some(exp) = self.token.time("exp") else {
            return Reading::pass("no exp");
        };
        let expired = self.now >= exp + self.leeway;
        let verb = if expired { "expired" } else { "expires" };
        Reading::of(
            !expired,
            format!(
                "{verb} {} ({}{})",
                rfc3339(exp),
                relative(exp, self.now),
                self.leeway_note()
            ),
        )
    }

    fn read_iss(&self) -> Reading {
        let iss = self.token.claim("iss").and_then(Value::as_str);
        let accepted = &self.args.issuers;
        if accepted.is_empty() {
            return Reading::off(format!(
                "not checked (token: {}; --iss checks it)",
                shown(iss)
            ));
        }
        match iss {
            None => Reading::fail(format!("absent; accepted: {accepted:?}")),
            Some(iss) => Reading::of(
                accepted.iter().any(|a| a == iss),
                format!("{iss:?}; accepted: {accepted:?}"),
            ),
        }
    }

    fn read_aud(&self) -> Reading {
        let aud: Option<Vec<&str>> = match self.token.claim("aud") {
            None => None,
            Some(Value::String(one)) => Some(vec![one.as_str()]),
            Some(Value::Array(many)) => Some(many.iter().filter_map(Value::as_str).collect()),
            Some(_) => return Reading::unknown("not a string or an array of strings"),
        };
        let accepted = &self.args.audiences;
        match (aud, accepted.is_empty()) {
            (_, true) if self.args.insecure_any_audience => {
                Reading::off("any audience accepted (--insecure-any-audience)")
            }
            (None, true) => Reading::pass("no aud, none expected"),
            (Some(aud), true) => Reading::fail(format!(
                "the token is for {aud:?} and no --aud was given (say which audience this \
                 verifier is, or --insecure-any-audience)"
            )),
            (None, false) => Reading::fail(format!("absent; accepted: {accepted:?}")),
            (Some(aud), false) => Reading::of(
                aud.iter().any(|a| accepted.iter().any(|b| b == a)),
                format!("{aud:?}; accepted: {accepted:?}"),
            ),
        }
    }

    fn leeway_note(&self) -> String {
        format!("; leeway {}s", self.leeway)
    }
}

/// The first registered claim whose JSON type RFC 7519 does not allow.
fn mistyped(claims: &crate::inspect::Object) -> Option<&'static str> {
    let number = |v: &Value| v.is_number();
    let string = |v: &Value| v.is_string();
    let audience = |v: &Value| match v {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    };
    let rules: [(&'static str, &dyn Fn(&Value) -> bool); 7] = [
        ("exp", &number),
        ("nbf", &number),
        ("iat", &number),
        ("iss", &string),
        ("sub", &string),
        ("jti", &string),
        ("aud", &audience),
    ];
    rules
        .into_iter()
        .find(|(name, ok)| claims.get(*name).is_some_and(|v| !ok(v)))
        .map(|(name, _)| name)
}

/// `typ` values compare case-insensitively, with an optional `application/` prefix on either
/// side (RFC 7515 §4.1.9), as the verifier compares them.
fn typ_matches(typ: &str, required: &str) -> bool {
    fn strip(s: &str) -> &str {
        match s.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &s[12..],
            _ => s,
        }
    }
    strip(typ).eq_ignore_ascii_case(strip(required))
}

/// An optional string for people: quoted, or "absent".
fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "absent".to_owned(), |v| format!("{v:?}"))
}
