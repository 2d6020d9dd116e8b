//! What `#[require_auth]` reads of a `#[utoipa::path(...)]` written below it: the path, the
//! methods and an explicit `operation_id`, so that the OpenAPI document finds the operation
//! by its route even when two handlers share a name. Anything else in it is left alone, and
//! nothing here is an error: utoipa checks its own attribute.

use proc_macro2::{TokenStream, TokenTree};
use syn::{Attribute, LitStr};

const METHODS: &[&str] = &[
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// The route a `#[utoipa::path]` names.
#[derive(Default)]
pub(crate) struct Route {
    pub(crate) operation_id: Option<LitStr>,
    pub(crate) path: Option<LitStr>,
    pub(crate) methods: Vec<String>,
}

/// Reads the first `#[utoipa::path(...)]` among `attrs`, if any.
pub(crate) fn utoipa_route(attrs: &[Attribute]) -> Option<Route> {
    let attr = attrs.iter().find(|attr| {
        let segments: Vec<String> = attr
            .path()
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        segments == ["utoipa", "path"]
    })?;
    let syn::Meta::List(list) = &attr.meta else {
        return Some(Route::default());
    };
    let mut route = Route::default();
    for arg in split_commas(list.tokens.clone()) {
        match arg.as_slice() {
            [TokenTree::Ident(method)] if METHODS.contains(&method.to_string().as_str()) => {
                route.methods.push(method.to_string());
            }
            [TokenTree::Ident(key), TokenTree::Group(group)] if key == "method" => {
                for token in group.stream() {
                    if let TokenTree::Ident(method) = token
                        && METHODS.contains(&method.to_string().as_str())
                    {
                        route.methods.push(method.to_string());
                    }
                }
            }
            [
                TokenTree::Ident(key),
                TokenTree::Punct(eq),
                TokenTree::Literal(value),
            ] if eq.as_char() == '=' => {
                let Ok(value) = syn::parse2::<LitStr>(TokenTree::Literal(value.clone()).into())
                else {
                    continue;
                };
                if key == "path" {
                    route.path = Some(value);
                } else if key == "operation_id" {
                    route.operation_id = Some(value);
                }
            }
            _ => {}
        }
    }
    Some(route)
}

/// The attribute's arguments, split on top-level commas (groups are single tokens).
fn split_commas(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut args = vec![Vec::new()];
    for token in tokens {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => args.push(Vec::new()),
            _ => {
                if let Some(last) = args.last_mut() {
                    last.push(token);
                }
            }
        }
    }
    args
}
