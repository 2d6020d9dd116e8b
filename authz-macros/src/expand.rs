//! `#[require_auth]`'s expansion: the handler, token for token, plus one hidden guard argument
//! whose marker type carries the requirement (built once) and the optional policy.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, parse_quote};

use crate::attr::{Item, RequireAuthArgs};

fn private() -> TokenStream {
    quote!(::authz_axum::__private)
}

/// The `Requirement` expression for one item (policies were split off before).
fn requirement(item: &Item) -> syn::Result<TokenStream> {
    let p = private();
    Ok(match item {
        Item::Role(lit) => quote_spanned!(lit.span()=> #p::Requirement::role(#lit)),
        Item::Scope(lit) => quote_spanned!(lit.span()=> #p::Requirement::scope(#lit)),
        Item::Permission(lit) => quote_spanned!(lit.span()=> #p::Requirement::permission(#lit)),
        Item::Many(kind, all, lits) => {
            let combine = if *all { quote!(all) } else { quote!(any) };
            quote_spanned!(kind.span()=> #p::Requirement::#combine([#(#p::Requirement::#kind(#lits)),*]))
        }
        Item::Claim(name, value) => {
            quote_spanned!(name.span()=> #p::Requirement::claim(#name, #p::serde_json::Value::from(#value)))
        }
        Item::Any(items) => {
            let inner = items
                .iter()
                .map(requirement)
                .collect::<syn::Result<Vec<_>>>()?;
            quote!(#p::Requirement::any([#(#inner),*]))
        }
        Item::All(items) => {
            let inner = items
                .iter()
                .map(requirement)
                .collect::<syn::Result<Vec<_>>>()?;
            quote!(#p::Requirement::all([#(#inner),*]))
        }
        Item::Not(inner) => {
            let inner = requirement(inner)?;
            quote!(#p::Requirement::not(#inner))
        }
        Item::Policy(path) => {
            return Err(syn::Error::new(
                path.span(),
                "`policy` is only allowed at the top level of `#[require_auth(...)]`",
            ));
        }
        Item::Quota(lit, ..) => {
            return Err(syn::Error::new(
                lit.span(),
                "`quota` is only allowed at the top level of `#[require_auth(...)]`",
            ));
        }
    })
}

/// Extractors that consume the request body, by the last segment of their type's path. axum
/// accepts one, as the handler's last argument; anywhere else rustc reports E0277 naming the
/// hidden guard type, so the mistake is caught here, by name, with the fix.
const BODY_EXTRACTORS: &[&str] = &[
    "Json",
    "Form",
    "Bytes",
    "String",
    "Body",
    "Request",
    "Multipart",
    "RawForm",
    "JsonBody",
];

fn check_body_extractor_last(item: &ItemFn) -> syn::Result<()> {
    let args: Vec<&syn::PatType> = item
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let Some((_, before_last)) = args.split_last() else {
        return Ok(());
    };
    for arg in before_last {
        let syn::Type::Path(path) = &*arg.ty else {
            continue;
        };
        let Some(last) = path.path.segments.last() else {
            continue;
        };
        let name = last.ident.to_string();
        if BODY_EXTRACTORS.contains(&name.as_str()) {
            return Err(syn::Error::new_spanned(
                &arg.ty,
                format!(
                    "`{name}` reads the request body, so it must be the handler's last \
                     argument (axum runs body extractors last); move it after the others"
                ),
            ));
        }
    }
    Ok(())
}

/// What the handler's entry says besides its requirement.
struct Described {
    policy: Option<String>,
    quota: Option<String>,
}

/// The handler's [`GuardedHandler`] entry (`authz_axum::guarded`), registered through a macro
/// of authz-axum's `__private` that its `openapi` feature switches on.
fn entry(item: &ItemFn, marker: &syn::Ident, described: &Described) -> TokenStream {
    let p = private();
    let name = item.sig.ident.to_string();
    let mut entry = quote! {
        #p::GuardedHandler::new(
            #name,
            ::core::module_path!(),
            <#marker as #p::GuardSpec>::requirement,
        )
    };
    if let Some(route) = crate::route::utoipa_route(&item.attrs) {
        if let Some(id) = route.operation_id {
            entry.extend(quote!(.with_operation_id(#id)));
        }
        if let Some(path) = route.path {
            let methods = route.methods;
            entry.extend(quote!(.with_route(#path, &[#(#methods),*])));
        }
    }
    if let Some(policy) = &described.policy {
        entry.extend(quote!(.with_policy(#policy)));
    }
    if let Some(quota) = &described.quota {
        entry.extend(quote!(.with_quota(#quota)));
    }
    quote! {
        #p::register_guarded! { #entry }
    }
}

pub(crate) fn expand(args: RequireAuthArgs, mut item: ItemFn) -> syn::Result<TokenStream> {
    if item.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            item.sig.fn_token,
            "`#[require_auth]` can only be applied to `async fn`s",
        ));
    }
    if let Some(FnArg::Receiver(receiver)) = item.sig.inputs.first() {
        return Err(syn::Error::new_spanned(
            receiver,
            "a handler cannot take `self`",
        ));
    }

    check_body_extractor_last(&item)?;
    let p = private();
    let mut policy = None;
    let mut quota = None;
    let mut requirements = Vec::new();
    let args_text = Described {
        policy: args.items.iter().find_map(|it| match it {
            Item::Policy(path) => Some(quote!(#path).to_string().replace(' ', "")),
            _ => None,
        }),
        quota: args.items.iter().find_map(|it| match it {
            Item::Quota(lit, ..) => Some(lit.value()),
            _ => None,
        }),
    };
    for it in args.items {
        match it {
            Item::Policy(path) => policy = Some(path),
            Item::Quota(lit, count, seconds) => quota = Some((lit, count, seconds)),
            other => requirements.push(requirement(&other)?),
        }
    }
    let handler = &item.sig.ident;
    let quota = quota.map(|(lit, count, seconds)| {
        quote_spanned! {lit.span()=>
            fn quota() -> ::core::option::Option<(&'static str, #p::Quota)> {
                ::core::option::Option::Some((
                    ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#handler)),
                    #p::Quota::rate(#count, #count as f64 / #seconds as f64),
                ))
            }
        }
    });
    let requirement = match requirements.len() {
        0 => quote!(::core::option::Option::None),
        len => {
            let expr = if len == 1 {
                requirements.remove(0)
            } else {
                quote!(#p::Requirement::all([#(#requirements),*]))
            };
            quote! {{
                static REQUIREMENT: #p::LazyLock<#p::Requirement> = #p::LazyLock::new(|| #expr);
                ::core::option::Option::Some(&*REQUIREMENT)
            }}
        }
    };
    let policy = policy.map(|path| {
        let name = quote!(#path).to_string().replace(' ', "");
        quote_spanned! {path.span()=>
            const POLICY: ::core::option::Option<&'static str> = ::core::option::Option::Some(#name);
            fn policy_denied() -> #p::Denied {
                static DENIED: #p::LazyLock<#p::Denied> =
                    #p::LazyLock::new(|| #p::Denied::new(::core::concat!("policy = ", #name)));
                ::core::clone::Clone::clone(&*DENIED)
            }
            fn policy<'a>(
                principal: &'a #p::Principal,
                parts: &'a mut #p::Parts,
            ) -> impl ::core::future::Future<Output = bool> + ::core::marker::Send + 'a {
                #path(principal, parts)
            }
        }
    });

    let vis = &item.vis;
    let marker = format_ident!("__authz_guard_{}", item.sig.ident);
    let entry = entry(&item, &marker, &args_text);
    let arg: FnArg = parse_quote!(__authz_guard: #p::Guard<#marker>);
    item.sig.inputs.insert(0, arg);
    Ok(quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Debug)]
        #vis struct #marker;

        #entry

        impl #p::GuardSpec for #marker {
            fn requirement() -> ::core::option::Option<&'static #p::Requirement> {
                #requirement
            }
            #policy
            #quota
        }

        #item
    })
}

/// `#[public]`'s expansion: the handler with one hidden `Public` argument first.
pub(crate) fn expand_public(mut item: ItemFn) -> syn::Result<TokenStream> {
    if item.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            item.sig.fn_token,
            "`#[public]` can only be applied to `async fn`s",
        ));
    }
    if let Some(FnArg::Receiver(receiver)) = item.sig.inputs.first() {
        return Err(syn::Error::new_spanned(
            receiver,
            "a handler cannot take `self`",
        ));
    }
    let p = private();
    let arg: FnArg = parse_quote!(__authz_public: #p::Public);
    item.sig.inputs.insert(0, arg);
    Ok(quote!(#item))
}
