//! Parsing `#[require_auth(...)]`'s arguments into a model, with errors on the user's tokens.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Lit, LitStr, Path, Token, bracketed, parenthesized};

/// Every key, for "unknown key" messages.
const KEYS: &str =
    "role, roles, scope, scopes, permission, permissions, claim, any, all, not, policy, quota";

/// One requirement, as written.
pub(crate) enum Item {
    Role(LitStr),
    Scope(LitStr),
    Permission(LitStr),
    /// `roles(any = [...])` and friends: the kind, whether all are needed, the names.
    Many(Ident, bool, Vec<LitStr>),
    Claim(LitStr, Lit),
    Any(Vec<Item>),
    All(Vec<Item>),
    Not(Box<Item>),
    Policy(Path),
    /// `quota = "30/min"`: requests allowed per caller and the period in seconds.
    Quota(LitStr, u32, u64),
}

/// The whole attribute: items that must all hold.
pub(crate) struct RequireAuthArgs {
    pub(crate) items: Vec<Item>,
}

impl Parse for RequireAuthArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let items = Punctuated::<Item, Token![,]>::parse_terminated(input)?;
        let mut seen: Vec<(String, Span)> = Vec::new();
        let mut errors: Option<syn::Error> = None;
        for item in &items {
            let Some((key, span)) = item.top_key() else {
                continue;
            };
            if seen.iter().any(|(k, _)| *k == key) {
                let hint = match key.as_str() {
                    "policy" => "one policy per handler; combine checks inside it".to_owned(),
                    "quota" => "one quota per handler".to_owned(),
                    _ => format!("use `{key}s(all = [...])` or `any(...)` to name several"),
                };
                let error =
                    syn::Error::new(span, format!("`{key}` specified more than once; {hint}"));
                match &mut errors {
                    Some(e) => e.combine(error),
                    None => errors = Some(error),
                }
            }
            seen.push((key, span));
        }
        match errors {
            Some(e) => Err(e),
            None => Ok(Self {
                items: items.into_iter().collect(),
            }),
        }
    }
}

impl Item {
    /// The key of a single-valued top-level item, for the duplicate check.
    fn top_key(&self) -> Option<(String, Span)> {
        match self {
            Self::Role(l) => Some(("role".to_owned(), l.span())),
            Self::Scope(l) => Some(("scope".to_owned(), l.span())),
            Self::Permission(l) => Some(("permission".to_owned(), l.span())),
            Self::Quota(l, ..) => Some(("quota".to_owned(), l.span())),
            Self::Policy(p) => Some((
                "policy".to_owned(),
                p.segments
                    .last()
                    .map_or_else(Span::call_site, |s| s.ident.span()),
            )),
            _ => None,
        }
    }
}

fn non_empty(lit: LitStr, key: &str) -> syn::Result<LitStr> {
    if lit.value().trim().is_empty() {
        Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must not be empty"),
        ))
    } else {
        Ok(lit)
    }
}

fn list(input: ParseStream<'_>, key: &Ident) -> syn::Result<Vec<Item>> {
    let content;
    parenthesized!(content in input);
    let items = Punctuated::<Item, Token![,]>::parse_terminated(&content)?;
    if items.is_empty() {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}(...)` needs at least one requirement"),
        ));
    }
    Ok(items.into_iter().collect())
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if let Ok(lit) = input.fork().parse::<LitStr>() {
            // `#[require_auth("admin")]`: a bare name, as other frameworks write it.
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "a requirement names its kind: `role = {0:?}` (or `scope = {0:?}`, \
                     `permission = {0:?}`)",
                    lit.value()
                ),
            ));
        }
        let key = Ident::parse_any(input)?;
        let name = key.to_string();
        match name.as_str() {
            "role" | "scope" | "permission" => {
                input.parse::<Token![=]>()?;
                if !input.peek(LitStr) {
                    let span = input.span();
                    let shown = input
                        .fork()
                        .parse::<proc_macro2::TokenTree>()
                        .map_or_else(|_| "admin".to_owned(), |t| t.to_string());
                    return Err(syn::Error::new(
                        span,
                        format!("`{name}` takes a string: `{name} = \"{shown}\"`"),
                    ));
                }
                let lit = non_empty(input.parse()?, &name)?;
                Ok(match name.as_str() {
                    "role" => Self::Role(lit),
                    "scope" => Self::Scope(lit),
                    _ => Self::Permission(lit),
                })
            }
            "roles" | "scopes" | "permissions" => {
                if input.peek(Token![=]) {
                    // `roles = ["a", "b"]`: say which of any/all, in the right form.
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "`{name}` says whether any or all are needed: \
                             `{name}(any = [\"a\", \"b\"])` or `{name}(all = [\"a\", \"b\"])`"
                        ),
                    ));
                }
                let content;
                parenthesized!(content in input);
                let mode = Ident::parse_any(&content)?;
                let all = match mode.to_string().as_str() {
                    "any" => false,
                    "all" => true,
                    other => {
                        return Err(syn::Error::new(
                            mode.span(),
                            format!(
                                "expected `any` or `all`, found `{other}`: `{name}(any = [\"a\", \"b\"])`"
                            ),
                        ));
                    }
                };
                content.parse::<Token![=]>()?;
                let names;
                bracketed!(names in content);
                let singular = &name[..name.len() - 1];
                let lits = Punctuated::<LitStr, Token![,]>::parse_terminated(&names)?
                    .into_iter()
                    .map(|lit| non_empty(lit, singular))
                    .collect::<syn::Result<Vec<_>>>()?;
                if lits.is_empty() {
                    return Err(syn::Error::new(
                        mode.span(),
                        format!("`{name}({mode} = [])` names no {singular}"),
                    ));
                }
                let kind = Ident::new(singular, key.span());
                Ok(Self::Many(kind, all, lits))
            }
            "claim" => {
                let content;
                parenthesized!(content in input);
                let claim = if content.peek(LitStr) {
                    content.parse::<LitStr>()?
                } else {
                    let ident = Ident::parse_any(&content)?;
                    LitStr::new(&ident.to_string(), ident.span())
                };
                let claim = non_empty(claim, "claim")?;
                content.parse::<Token![=]>()?;
                let value: Lit = content.parse()?;
                match value {
                    Lit::Str(_) | Lit::Int(_) | Lit::Bool(_) | Lit::Float(_) => {
                        Ok(Self::Claim(claim, value))
                    }
                    other => Err(syn::Error::new(
                        other.span(),
                        "a claim value is a string, number or bool literal",
                    )),
                }
            }
            "any" => Ok(Self::Any(list(input, &key)?)),
            "all" => Ok(Self::All(list(input, &key)?)),
            "not" => {
                let content;
                parenthesized!(content in input);
                let inner: Item = content.parse()?;
                if !content.is_empty() {
                    return Err(content.error(
                        "`not(...)` takes one requirement; wrap several in any(...) or all(...)",
                    ));
                }
                if matches!(inner, Self::Policy(_)) {
                    return Err(syn::Error::new(key.span(), "`policy` cannot be negated"));
                }
                Ok(Self::Not(Box::new(inner)))
            }
            "policy" => {
                input.parse::<Token![=]>()?;
                Ok(Self::Policy(parse_policy(input)?))
            }
            "quota" => {
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                let (count, seconds) = parse_quota(&lit.value()).ok_or_else(|| {
                    syn::Error::new(
                        lit.span(),
                        "a quota is \"<requests>/<period>\" with a period of sec, min, hour or day, e.g. \"30/min\"",
                    )
                })?;
                Ok(Self::Quota(lit, count, seconds))
            }
            _ => Err(syn::Error::new(
                key.span(),
                format!("unknown key `{name}`; valid keys: {KEYS}"),
            )),
        }
    }
}

/// The function a `policy = ...` names: a path in expression position (generic arguments
/// only with a turbofish, `check::<u8>`), not a bare `crate`, `self`, `super` or `Self`.
fn parse_policy(input: ParseStream<'_>) -> syn::Result<Path> {
    const HELP: &str = "`policy` names an async function: `policy = is_owner` or \
                        `policy = crate::checks::is_owner` (generic arguments with a turbofish: \
                        `check::<T>`)";
    let start = input.span();
    let path = match input.parse::<syn::ExprPath>() {
        Ok(expr) if expr.qself.is_none() && expr.attrs.is_empty() => expr.path,
        Ok(expr) => return Err(syn::Error::new_spanned(expr, HELP)),
        Err(_) => return Err(syn::Error::new(start, HELP)),
    };
    let last = path.segments.last().map(|s| s.ident.to_string());
    if matches!(last.as_deref(), Some("crate" | "self" | "super" | "Self")) {
        return Err(syn::Error::new_spanned(&path, HELP));
    }
    if input.peek(Token![<]) || input.peek(syn::token::Paren) {
        return Err(syn::Error::new(input.span(), HELP));
    }
    Ok(path)
}

/// `"30/min"` → (30, 60).
fn parse_quota(text: &str) -> Option<(u32, u64)> {
    let (count, period) = text.split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
    let seconds = match period.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return None,
    };
    Some((count, seconds))
}
