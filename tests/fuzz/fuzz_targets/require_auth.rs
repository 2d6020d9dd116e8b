//! The `#[require_auth(...)]` argument parser and its expansion. authz-macros is a proc-macro
//! crate (it cannot be linked into a fuzz binary), so its parse and expand modules are
//! included by path, as they are; `expand` names `crate::attr` and `crate::route` (what it
//! reads of a `#[utoipa::path]`), which are this crate's.
//!
//! Input: the attribute's arguments (lossy UTF-8), as written between the parentheses; an
//! optional `\0` is followed by the annotated item (default `async fn handler() {}`).
//!
//! Oracles besides "no panic": what parses expands (or is refused with an error) for an
//! `async fn`, and the expansion is valid Rust syntax.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../authz-macros/src/attr.rs"]
mod attr;
#[allow(dead_code, unreachable_pub)]
#[path = "../../../authz-macros/src/expand.rs"]
mod expand;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../authz-macros/src/route.rs"]
mod route;

use attr::{Item, RequireAuthArgs};

/// Walks what was parsed, touching every literal and path.
fn walk(item: &Item, depth: usize) -> usize {
    match item {
        Item::Role(l) | Item::Scope(l) | Item::Permission(l) => {
            assert!(!l.value().trim().is_empty(), "an empty name was accepted");
            1
        }
        Item::Many(kind, _all, lits) => {
            assert!(!lits.is_empty(), "an empty list was accepted");
            let _ = kind.to_string();
            lits.iter().map(|l| l.value().len()).sum::<usize>() + 1
        }
        Item::Claim(name, value) => {
            assert!(!name.value().trim().is_empty(), "an empty claim name was accepted");
            let _ = quote::quote!(#value).to_string();
            1
        }
        Item::Any(items) | Item::All(items) => {
            assert!(!items.is_empty(), "an empty any/all was accepted");
            items.iter().map(|i| walk(i, depth + 1)).sum::<usize>() + 1
        }
        Item::Not(inner) => {
            assert!(!matches!(**inner, Item::Policy(_)), "a negated policy was accepted");
            walk(inner, depth + 1) + 1
        }
        Item::Policy(path) => {
            let _ = quote::quote!(#path).to_string();
            1
        }
        Item::Quota(lit, count, seconds) => {
            assert!(*count > 0, "a zero quota was accepted");
            assert!(matches!(*seconds, 1 | 60 | 3600 | 86_400), "quota period {seconds}");
            let _ = lit.value();
            1
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (args, item) = match text.split_once('\0') {
        Some((args, item)) => (args, Some(item)),
        None => (&*text, None),
    };
    let Ok(parsed) = syn::parse_str::<RequireAuthArgs>(args) else {
        return;
    };
    for item in &parsed.items {
        walk(item, 0);
    }
    let function: syn::ItemFn = match item {
        None => syn::parse_quote!(
            async fn handler(axum::extract::Path(id): axum::extract::Path<u32>) -> String {
                id.to_string()
            }
        ),
        Some(item) => match syn::parse_str(item) {
            Ok(function) => function,
            Err(_) => return,
        },
    };
    let is_async = function.sig.asyncness.is_some();
    // Every accepted attribute must expand to valid Rust. (The fuzzer found two that did
    // not — `policy = crate` and `policy = check<u8>` — now refused by the parser; see
    // regressions/require_auth/README.md.)
    match expand::expand(parsed, function) {
        Ok(tokens) => {
            assert!(is_async, "a non-async fn was expanded");
            let text = tokens.to_string();
            if let Err(e) = syn::parse_file(&text) {
                panic!("the expansion is not valid Rust ({e}):\n{text}");
            }
        }
        Err(e) => {
            let _ = e.to_compile_error().to_string();
        }
    }
});
