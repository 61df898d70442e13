//! The generics of the `_invalidate` and `_cache_key` companions.
//!
//! A companion takes the function's parameters, not its return value, so a
//! type parameter that only the return type uses (`fn load<T>(id: u64) -> T`)
//! could not be inferred at the companion's call sites: it is left out, with
//! every bound that mentions it. The key does not depend on it either.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{GenericParam, Generics, WherePredicate};

/// `generics` without the type and const parameters that `used` (the
/// parameters' types and the attribute's expressions) never mentions.
pub(crate) fn companion_generics(generics: &Generics, used: TokenStream) -> Generics {
    let mut mentioned = HashSet::new();
    collect_idents(used, &mut mentioned);
    let dropped: HashSet<String> = generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(t) => Some(t.ident.to_string()),
            GenericParam::Const(c) => Some(c.ident.to_string()),
            GenericParam::Lifetime(_) => None,
        })
        .filter(|name| !mentioned.contains(name))
        .collect();
    if dropped.is_empty() {
        return generics.clone();
    }
    let mentions_dropped = |tokens: TokenStream| {
        let mut idents = HashSet::new();
        collect_idents(tokens, &mut idents);
        idents.iter().any(|i| dropped.contains(i))
    };

    let mut pruned = generics.clone();
    pruned.params = Punctuated::new();
    for param in &generics.params {
        let mut param = param.clone();
        let name = match &mut param {
            GenericParam::Type(t) => {
                t.bounds = t
                    .bounds
                    .iter()
                    .filter(|b| !mentions_dropped(b.to_token_stream()))
                    .cloned()
                    .collect();
                if t.bounds.is_empty() {
                    t.colon_token = None;
                }
                Some(t.ident.to_string())
            }
            GenericParam::Const(c) => Some(c.ident.to_string()),
            GenericParam::Lifetime(_) => None,
        };
        if name.is_none_or(|n| !dropped.contains(&n)) {
            pruned.params.push(param);
        }
    }
    if pruned.params.is_empty() {
        pruned.lt_token = None;
        pruned.gt_token = None;
    }
    if let Some(where_clause) = &mut pruned.where_clause {
        where_clause.predicates = where_clause
            .predicates
            .iter()
            .filter(|p| match p {
                WherePredicate::Type(_) => !mentions_dropped(p.to_token_stream()),
                _ => true,
            })
            .cloned()
            .collect();
        if where_clause.predicates.is_empty() {
            pruned.where_clause = None;
        }
    }
    pruned
}

fn collect_idents(tokens: TokenStream, into: &mut HashSet<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(ident) => {
                into.insert(ident.to_string());
            }
            TokenTree::Group(group) => collect_idents(group.stream(), into),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::ItemFn;

    fn prune(item: &str, used: TokenStream) -> String {
        let item: ItemFn = syn::parse_str(item).unwrap();
        let generics = companion_generics(&item.sig.generics, used);
        let where_clause = &generics.where_clause;
        quote!(#generics #where_clause).to_string()
    }

    #[test]
    fn a_parameter_only_the_return_type_uses_is_dropped_with_its_bounds() {
        assert_eq!(
            prune(
                "fn load<'a, T: Clone + From<U>, U: Default>(x: &'a T) -> U where U: Clone, T: Eq {}",
                quote!(&'a T),
            ),
            quote!(<'a, T: Clone> where T: Eq).to_string()
        );
    }

    #[test]
    fn generics_all_in_use_are_kept_as_written() {
        assert_eq!(
            prune("fn f<T: Clone>(x: T) -> T where T: Eq {}", quote!(T)),
            quote!(<T: Clone> where T: Eq).to_string()
        );
        assert_eq!(prune("fn f<T>() -> T {}", quote!()), "");
    }
}
