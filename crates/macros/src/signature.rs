//! What the attribute needs to know about the function it wraps.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, Receiver, ReceiverKind,
    ReturnType, Type,
};

use crate::Errors;

/// A parameter, which becomes a keyword argument of the key.
pub(crate) struct Param {
    pub(crate) attrs: Vec<Attribute>,
    /// The binding, as written (possibly raw, `r#type`).
    pub(crate) ident: Ident,
    /// The keyword argument's name: the binding without `r#`.
    pub(crate) name: String,
    pub(crate) ty: Type,
}

/// How the result is cached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returns {
    /// Every value is cached (`call`).
    Plain,
    /// Only `Ok` values are cached (`try_call`).
    Result,
}

/// The function's signature, checked.
pub(crate) struct Analysis {
    pub(crate) receiver: Option<Receiver>,
    pub(crate) params: Vec<Param>,
    /// The return type; `()` when none is written.
    pub(crate) output: TokenStream,
    /// What `Result` detection found, before the `result`/`plain` flags.
    pub(crate) returns_result: bool,
}

impl Analysis {
    /// Checks the signature, reporting every unsupported part at its token.
    pub(crate) fn of(item: &ItemFn) -> syn::Result<Analysis> {
        let sig = &item.sig;
        let mut errors = Errors::default();
        if let Some(constness) = &sig.constness {
            errors.push(syn::Error::new(
                constness.span,
                "a `const fn` cannot be cached: the cache is only reachable at run time; \
                 remove `const`",
            ));
        }
        if let Some(variadic) = &sig.variadic {
            errors.push(syn::Error::new_spanned(
                variadic,
                "a variadic function cannot be cached",
            ));
        }

        let mut receiver = None;
        let mut params = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(r) => receiver = Some(r.clone()),
                FnArg::Typed(typed) => match param_ident(&typed.pat) {
                    Ok(ident) => params.push(Param {
                        attrs: typed.attrs.clone(),
                        name: ident.unraw().to_string(),
                        ident,
                        ty: (*typed.ty).clone(),
                    }),
                    Err(e) => errors.push(e),
                },
            }
        }

        let (output, returns_result) = match &sig.output {
            ReturnType::Default => (quote!(()), false),
            ReturnType::Type(_, ty) => {
                if let Some(impl_token) = find_impl(ty.to_token_stream()) {
                    errors.push(syn::Error::new(
                        impl_token.span(),
                        "a cached function cannot return `impl Trait`: a cached value is \
                         decoded back into the return type, so name a concrete type",
                    ));
                }
                (ty.to_token_stream(), is_result(ty))
            }
        };
        errors.finish()?;
        Ok(Analysis {
            receiver,
            params,
            output,
            returns_result,
        })
    }
}

/// The receiver's `self` as a `&Self`-like expression, for `key_self`.
pub(crate) fn self_ref(receiver: &Receiver) -> TokenStream {
    let self_token = &receiver.self_token;
    match &receiver.kind {
        ReceiverKind::Reference(..) => quote!(#self_token),
        ReceiverKind::Value => quote!(&#self_token),
        _ => quote!(&*#self_token),
    }
}

fn param_ident(pat: &Pat) -> syn::Result<Ident> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Ok(p.ident.clone()),
        Pat::Wild(wild) => Err(syn::Error::new_spanned(
            wild,
            "#[cache_wrapper] needs a name for each parameter, because parameters become the \
             keyword arguments of the cache key; name this one (e.g. `_unused`)",
        )),
        other => Err(syn::Error::new_spanned(
            other,
            "#[cache_wrapper] needs a plain name for each parameter, because parameters become \
             the keyword arguments of the cache key; bind a name here and destructure it in \
             the body",
        )),
    }
}

/// The first `impl` keyword in a type, at any depth.
fn find_impl(tokens: TokenStream) -> Option<Ident> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Ident(ident) if ident == "impl" => Some(ident),
        TokenTree::Group(group) => find_impl(group.stream()),
        _ => None,
    })
}

/// `Result<T, E>`, or a one-argument alias such as `io::Result<T>`, judged
/// by the last path segment alone.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Paren(inner) => is_result(&inner.elem),
        Type::Group(inner) => is_result(&inner.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return false;
            };
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return false;
            };
            let types = args
                .args
                .iter()
                .filter(|a| matches!(a, GenericArgument::Type(_)))
                .count();
            last.ident == "Result" && (types == 1 || types == 2) && types == args.args.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ty: &str) -> bool {
        is_result(&syn::parse_str(ty).unwrap())
    }

    #[test]
    fn result_is_told_by_its_last_segment_and_arity() {
        assert!(result("Result<u8, String>"));
        assert!(result("std::result::Result<Vec<u8>, E>"));
        assert!(result("io::Result<u8>"));
        assert!(result("(Result<u8, E>)"));
        assert!(!result("Option<u8>"));
        assert!(!result("Result"));
        assert!(!result("MyResult<u8, E>"));
        assert!(!result("Result<'a, u8, E>"));
        assert!(!result("<T as Tr>::Result<u8, E>"));
    }

    #[test]
    fn impl_is_found_at_any_depth() {
        let ty: Type = syn::parse_str("Vec<Box<impl Fn()>>").unwrap();
        assert!(find_impl(ty.to_token_stream()).is_some());
        let ty: Type = syn::parse_str("Vec<u8>").unwrap();
        assert!(find_impl(ty.to_token_stream()).is_none());
    }
}
