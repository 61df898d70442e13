//! The attribute's arguments: `#[cache_wrapper(store = ..., namespace = "...", ...)]`.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitInt, LitStr, Token, UnOp};

use crate::Errors;

/// Every option, in the order the error message for an unknown one lists them.
const OPTIONS: &[&str] = &[
    "store",
    "memoizer",
    "namespace",
    "expire",
    "local_tier",
    "cache_if",
    "expire_with",
    "cache_only_for",
    "skip_cache_keys",
    "write_behind",
    "op_timeout",
    "fail_safe",
    "fail_safe_throttle",
    "refresh_ahead",
    "soft_timeout",
    "hard_timeout",
    "distributed_lock",
    "positional",
    "key_self",
    "skip_self",
    "result",
    "plain",
];

/// Options that are flags: written alone, without `= value`.
const FLAGS: &[&str] = &["key_self", "skip_self", "result", "plain"];

/// Where the cache lives.
pub(crate) enum Source {
    /// `store = EXPR`: the macro builds one memoizer over this store.
    Store(Expr),
    /// `memoizer = EXPR`: evaluated at each call.
    Memoizer(Expr),
}

/// `expire = ...`.
pub(crate) enum Expire {
    /// An integer literal: whole seconds.
    Secs(LitInt),
    /// Any other expression: seconds or a `Duration`, told apart by type.
    Expr(Expr),
}

/// One `("kwarg", [values...])` of `cache_only_for`.
pub(crate) struct ConditionSpec {
    pub(crate) kwarg: LitStr,
    pub(crate) values: Vec<Expr>,
}

/// The validated options.
pub(crate) struct Options {
    pub(crate) source: Source,
    pub(crate) namespace: Option<Expr>,
    pub(crate) expire: Option<Expire>,
    /// `local_tier = EXPR`: a `LocalTier`.
    pub(crate) local_tier: Option<Expr>,
    /// `cache_if = EXPR`: which results are cached.
    pub(crate) cache_if: Option<Expr>,
    /// `expire_with = EXPR`: each result's expiry.
    pub(crate) expire_with: Option<Expr>,
    pub(crate) cache_only_for: Option<Vec<ConditionSpec>>,
    pub(crate) skip_cache_keys: Vec<LitStr>,
    /// `write_behind = EXPR`: a `bool`.
    pub(crate) write_behind: Option<Expr>,
    /// `op_timeout = EXPR`: a `Duration` or an `Option<Duration>`.
    pub(crate) op_timeout: Option<Expr>,
    /// `fail_safe = EXPR`: a `Duration`, how long past its expiry a value
    /// may stand in for a failed computation.
    pub(crate) fail_safe: Option<Expr>,
    /// `fail_safe_throttle = EXPR`: a `Duration`.
    pub(crate) fail_safe_throttle: Option<Expr>,
    /// `refresh_ahead = EXPR`: an `f64`, checked to be in `(0, 1)` when a
    /// literal.
    pub(crate) refresh_ahead: Option<Expr>,
    /// `soft_timeout = EXPR`: a `Duration`.
    pub(crate) soft_timeout: Option<Expr>,
    /// `hard_timeout = EXPR`: a `Duration`.
    pub(crate) hard_timeout: Option<Expr>,
    /// `distributed_lock = EXPR`: a `Duration`, the lock's lease.
    pub(crate) distributed_lock: Option<Expr>,
    /// The options among `refresh_ahead`, `soft_timeout` and
    /// `hard_timeout` that were given, in the attribute's order: they run
    /// the function on its own (the memoizer's `_owned` entry points).
    pub(crate) detached: Vec<Ident>,
    pub(crate) positional: Option<(usize, LitInt)>,
    pub(crate) key_self: Option<Ident>,
    /// `skip_self`: the receiver is left out of the key, on purpose.
    pub(crate) skip_self: Option<Ident>,
    pub(crate) result: Option<Ident>,
    pub(crate) plain: Option<Ident>,
    /// The attribute's tokens, for the generics the options mention.
    pub(crate) tokens: TokenStream,
}

/// `name` or `name = value`, before validation.
pub(crate) struct RawOption {
    pub(crate) name: Ident,
    pub(crate) value: Option<Expr>,
}

impl Parse for RawOption {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.call(Ident::parse_any)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(RawOption { name, value })
    }
}

impl Options {
    /// Parses and checks the attribute's arguments; every mistake found is
    /// reported, each at its own token.
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Options> {
        let raw = Punctuated::<RawOption, Token![,]>::parse_terminated.parse2(tokens.clone())?;
        let mut errors = Errors::default();
        let mut store = None;
        let mut memoizer = None;
        let mut namespace = None;
        let mut expire = None;
        let mut local_tier = None;
        let mut cache_if = None;
        let mut expire_with = None;
        let mut cache_only_for = None;
        let mut skip_cache_keys = None;
        let mut write_behind = None;
        let mut op_timeout = None;
        let mut fail_safe = None;
        let mut fail_safe_throttle = None;
        let mut distributed_lock = None;
        let mut refresh_ahead = None;
        let mut soft_timeout = None;
        let mut hard_timeout = None;
        let mut positional = None;
        let mut key_self = None;
        let mut skip_self = None;
        let mut result = None;
        let mut plain = None;
        let mut seen: Vec<String> = Vec::new();

        for RawOption { name, value } in raw {
            let key = name.to_string();
            if !OPTIONS.contains(&key.as_str()) {
                errors.push(unknown_option(&name));
                continue;
            }
            if seen.contains(&key) {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("`{key}` is given twice; keep one"),
                ));
                continue;
            }
            seen.push(key.clone());
            let is_flag = FLAGS.contains(&key.as_str());
            let value = match (value, is_flag) {
                (Some(value), true) => {
                    errors.push(syn::Error::new_spanned(
                        value,
                        format!("`{key}` is a flag and takes no value: write `{key}` alone"),
                    ));
                    continue;
                }
                (None, true) => None,
                (Some(value), false) => Some(value),
                (None, false) => {
                    errors.push(syn::Error::new(
                        name.span(),
                        format!("`{key}` needs a value: `{key} = ...`"),
                    ));
                    continue;
                }
            };
            let checked = match (key.as_str(), value) {
                ("store", Some(v)) => {
                    store = Some((name, v));
                    Ok(())
                }
                ("memoizer", Some(v)) => {
                    memoizer = Some((name, v));
                    Ok(())
                }
                ("namespace", Some(v)) => namespace_value(v).map(|v| namespace = Some((name, v))),
                ("expire", Some(v)) => expire_value(v).map(|v| expire = Some((name, v))),
                ("local_tier", Some(v)) => {
                    local_tier = Some((name, v));
                    Ok(())
                }
                ("cache_if", Some(v)) => {
                    cache_if = Some((name, v));
                    Ok(())
                }
                ("expire_with", Some(v)) => {
                    expire_with = Some((name, v));
                    Ok(())
                }
                ("cache_only_for", Some(v)) => {
                    conditions_value(v).map(|v| cache_only_for = Some((name, v)))
                }
                ("skip_cache_keys", Some(v)) => names_value(v).map(|v| skip_cache_keys = Some(v)),
                ("write_behind", Some(v)) => {
                    write_behind = Some((name, v));
                    Ok(())
                }
                ("op_timeout", Some(v)) => {
                    op_timeout = Some((name, v));
                    Ok(())
                }
                ("fail_safe", Some(v)) => {
                    fail_safe = Some((name, v));
                    Ok(())
                }
                ("fail_safe_throttle", Some(v)) => {
                    fail_safe_throttle = Some((name, v));
                    Ok(())
                }
                ("distributed_lock", Some(v)) => {
                    distributed_lock = Some((name, v));
                    Ok(())
                }
                ("refresh_ahead", Some(v)) => {
                    fraction_value(v).map(|v| refresh_ahead = Some((name, v)))
                }
                ("soft_timeout", Some(v)) => {
                    soft_timeout = Some((name, v));
                    Ok(())
                }
                ("hard_timeout", Some(v)) => {
                    hard_timeout = Some((name, v));
                    Ok(())
                }
                ("positional", Some(v)) => positional_value(v).map(|v| positional = Some(v)),
                ("key_self", None) => {
                    key_self = Some(name);
                    Ok(())
                }
                ("skip_self", None) => {
                    skip_self = Some(name);
                    Ok(())
                }
                ("result", None) => {
                    result = Some(name);
                    Ok(())
                }
                ("plain", None) => {
                    plain = Some(name);
                    Ok(())
                }
                _ => unreachable!("options and flags are matched above"),
            };
            if let Err(e) = checked {
                errors.push(e);
            }
        }

        if let (Some(_), Some(plain)) = (&result, &plain) {
            errors.push(syn::Error::new(
                plain.span(),
                "`result` and `plain` contradict each other: `result` caches only `Ok` values, \
                 `plain` caches every value; keep one",
            ));
        }
        if let (Some(_), Some(skip_self)) = (&key_self, &skip_self) {
            errors.push(syn::Error::new(
                skip_self.span(),
                "`key_self` and `skip_self` contradict each other: `key_self` puts the receiver \
                 in the key, `skip_self` leaves it out; keep one",
            ));
        }

        // An option that was given but rejected is not also "missing".
        let given = |name: &str| seen.iter().any(|s| s == name);
        let source = match (store, memoizer) {
            (Some((_, store)), None) => Some(Source::Store(store)),
            (None, Some((_, memoizer))) => {
                let store_only = [
                    namespace.as_ref().map(|(n, _)| n),
                    expire.as_ref().map(|(n, _)| n),
                    local_tier.as_ref().map(|(n, _)| n),
                    cache_if.as_ref().map(|(n, _)| n),
                    expire_with.as_ref().map(|(n, _)| n),
                    cache_only_for.as_ref().map(|(n, _)| n),
                    write_behind.as_ref().map(|(n, _)| n),
                    op_timeout.as_ref().map(|(n, _)| n),
                    fail_safe.as_ref().map(|(n, _)| n),
                    fail_safe_throttle.as_ref().map(|(n, _)| n),
                    refresh_ahead.as_ref().map(|(n, _)| n),
                    soft_timeout.as_ref().map(|(n, _)| n),
                    hard_timeout.as_ref().map(|(n, _)| n),
                    distributed_lock.as_ref().map(|(n, _)| n),
                ];
                for name in store_only.into_iter().flatten() {
                    errors.push(syn::Error::new(
                        name.span(),
                        format!(
                            "`{name}` configures the memoizer that `store = ...` builds; with \
                             `memoizer = ...`, set it on that `Memoizer`'s builder instead"
                        ),
                    ));
                }
                Some(Source::Memoizer(memoizer))
            }
            (Some(_), Some((name, _))) => {
                errors.push(syn::Error::new(
                    name.span(),
                    "give either `store = ...` (the macro builds the memoizer) or \
                     `memoizer = ...` (yours), not both",
                ));
                None
            }
            (None, None) if given("store") || given("memoizer") => None,
            (None, None) => {
                errors.push(syn::Error::new(
                    Span::call_site(),
                    "missing `store = ...` or `memoizer = ...`: say where results are cached, \
                     e.g. #[cache_wrapper(store = MemoryStore::new(), namespace = \"users\", \
                     expire = 60)]",
                ));
                None
            }
        };
        if let (Some(Source::Store(_)), false) = (&source, given("namespace")) {
            errors.push(syn::Error::new(
                Span::call_site(),
                "missing `namespace = \"...\"`: the reference requires one, and it keeps this \
                 function's keys apart from every other function's on the same store",
            ));
        }
        errors.finish()?;

        let mut detached: Vec<Ident> = [&refresh_ahead, &soft_timeout, &hard_timeout]
            .into_iter()
            .flatten()
            .map(|(name, _)| name.clone())
            .collect();
        // In the attribute's order, for the error at the first of them.
        detached.sort_by_key(|name| seen.iter().position(|s| name == s));
        Ok(Options {
            source: source.expect("checked above"),
            namespace: namespace.map(|(_, v)| v),
            expire: expire.map(|(_, v)| v),
            local_tier: local_tier.map(|(_, v)| v),
            cache_if: cache_if.map(|(_, v)| v),
            expire_with: expire_with.map(|(_, v)| v),
            cache_only_for: cache_only_for.map(|(_, v)| v),
            skip_cache_keys: skip_cache_keys.unwrap_or_default(),
            write_behind: write_behind.map(|(_, v)| v),
            op_timeout: op_timeout.map(|(_, v)| v),
            fail_safe: fail_safe.map(|(_, v)| v),
            fail_safe_throttle: fail_safe_throttle.map(|(_, v)| v),
            refresh_ahead: refresh_ahead.map(|(_, v)| v),
            soft_timeout: soft_timeout.map(|(_, v)| v),
            hard_timeout: hard_timeout.map(|(_, v)| v),
            distributed_lock: distributed_lock.map(|(_, v)| v),
            detached,
            positional,
            key_self,
            skip_self,
            result,
            plain,
            tokens,
        })
    }
}

fn unknown_option(name: &Ident) -> syn::Error {
    let given = name.to_string();
    let hint = closest(&given, OPTIONS.iter().copied())
        .map(|known| format!("did you mean `{known}`? "))
        .unwrap_or_default();
    syn::Error::new(
        name.span(),
        format!(
            "unknown option `{given}`; {hint}#[cache_wrapper] takes: {}",
            OPTIONS.join(", ")
        ),
    )
}

/// The candidate `given` most likely meant, for "did you mean": within two
/// edits, or the one it is the start of (`request` for `request_id`).
pub(crate) fn closest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|known| edit_distance(given, known) <= 2 || known.starts_with(given))
        .min_by_key(|known| edit_distance(given, known))
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

/// A string literal, or any non-literal expression (a `const`, a call).
fn namespace_value(value: Expr) -> syn::Result<Expr> {
    match literal(&value) {
        Some(Lit::Str(_)) | None => Ok(value),
        Some(_) => Err(syn::Error::new_spanned(
            value,
            "`namespace` must be a string, e.g. namespace = \"users\"",
        )),
    }
}

fn expire_value(value: Expr) -> syn::Result<Expire> {
    let negative_literal = match &value {
        Expr::Unary(unary) => matches!(unary.op, UnOp::Neg(_)) && literal(&unary.expr).is_some(),
        _ => false,
    };
    if negative_literal {
        return Err(syn::Error::new_spanned(
            value,
            "`expire` cannot be negative: give whole seconds (0 means no expiry)",
        ));
    }
    match literal(&value) {
        Some(Lit::Int(secs)) => {
            secs.base10_parse::<u64>()?;
            Ok(Expire::Secs(secs.clone()))
        }
        Some(_) => Err(syn::Error::new_spanned(
            value,
            "`expire` takes whole seconds or a `Duration`, e.g. expire = 60 or \
             expire = Duration::from_millis(1500)",
        )),
        None => Ok(Expire::Expr(value)),
    }
}

/// `refresh_ahead`'s fraction of an entry's life: a literal must lie
/// strictly between 0 and 1; any other expression is left to the type
/// check (an `f64`) and to the builder, which logs a fraction out of range.
fn fraction_value(value: Expr) -> syn::Result<Expr> {
    let in_range = match literal(&value) {
        None => !matches!(&value, Expr::Unary(unary) if literal(&unary.expr).is_some()),
        Some(Lit::Float(fraction)) => fraction
            .base10_parse::<f64>()
            .is_ok_and(|f| f > 0.0 && f < 1.0),
        Some(_) => false,
    };
    if in_range {
        Ok(value)
    } else {
        Err(syn::Error::new_spanned(
            value,
            "`refresh_ahead` must be strictly between 0 and 1: the fraction of an entry's life \
             after which a hit refreshes it, e.g. refresh_ahead = 0.8 to refresh in its last \
             fifth",
        ))
    }
}

const CONDITIONS_SHAPE: &str = "`cache_only_for` takes a list of (parameter, [values]) pairs, \
     e.g. cache_only_for = [(\"status\", [\"active\", \"pending\"])]";

fn conditions_value(value: Expr) -> syn::Result<Vec<ConditionSpec>> {
    let Expr::Array(list) = value else {
        return Err(syn::Error::new_spanned(value, CONDITIONS_SHAPE));
    };
    if list.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            list,
            "an empty `cache_only_for` caches no call at all; remove the option to cache \
             every call",
        ));
    }
    let mut errors = Errors::default();
    let mut conditions = Vec::new();
    for elem in list.elems {
        match condition_value(elem) {
            Ok(condition) => conditions.push(condition),
            Err(e) => errors.push(e),
        }
    }
    errors.finish().map(|()| conditions)
}

fn condition_value(elem: Expr) -> syn::Result<ConditionSpec> {
    let Expr::Tuple(pair) = &elem else {
        return Err(syn::Error::new_spanned(elem, CONDITIONS_SHAPE));
    };
    let mut parts = pair.elems.iter();
    let (Some(kwarg), Some(values), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(syn::Error::new_spanned(elem, CONDITIONS_SHAPE));
    };
    let Some(Lit::Str(kwarg)) = literal(kwarg) else {
        return Err(syn::Error::new_spanned(
            kwarg,
            "name the parameter with a string literal, e.g. (\"status\", [\"active\"])",
        ));
    };
    let Expr::Array(values) = values else {
        return Err(syn::Error::new_spanned(
            values,
            "list the values that allow caching in brackets, e.g. (\"status\", [\"active\"])",
        ));
    };
    if values.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            values,
            "no values: this condition would never match; list the values that allow caching",
        ));
    }
    Ok(ConditionSpec {
        kwarg: kwarg.clone(),
        values: values.elems.iter().cloned().collect(),
    })
}

fn names_value(value: Expr) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(list) = value else {
        return Err(syn::Error::new_spanned(
            value,
            "`skip_cache_keys` takes a list of parameter names, e.g. \
             skip_cache_keys = [\"request_id\"]",
        ));
    };
    let mut errors = Errors::default();
    let mut names: Vec<LitStr> = Vec::new();
    for elem in list.elems {
        match literal(&elem) {
            Some(Lit::Str(name)) if names.iter().any(|n| n.value() == name.value()) => {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("`{}` is listed twice", name.value()),
                ));
            }
            Some(Lit::Str(name)) => names.push(name.clone()),
            _ => errors.push(syn::Error::new_spanned(
                elem.to_token_stream(),
                "name the parameter with a string literal, e.g. \"request_id\"",
            )),
        }
    }
    errors.finish().map(|()| names)
}

fn positional_value(value: Expr) -> syn::Result<(usize, LitInt)> {
    match literal(&value) {
        Some(Lit::Int(n)) => Ok((n.base10_parse()?, n.clone())),
        _ => Err(syn::Error::new_spanned(
            value,
            "`positional` takes how many leading parameters a Python caller passes \
             positionally, as an integer literal, e.g. positional = 1",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{Options, edit_distance, fraction_value};
    use quote::quote;

    #[test]
    fn a_literal_refresh_ahead_fraction_lies_strictly_between_0_and_1() {
        let checked = |tokens| fraction_value(syn::parse2(tokens).unwrap()).is_ok();
        assert!(checked(quote!(0.5)));
        assert!(checked(quote!(0.999)));
        assert!(checked(quote!(FRACTION)));
        assert!(checked(quote!(fraction())));
        for bad in [
            quote!(0.0),
            quote!(1.0),
            quote!(1.5),
            quote!(-0.5),
            quote!(1),
            quote!("0.5"),
        ] {
            assert!(!checked(bad.clone()), "{bad}");
        }
    }

    #[test]
    fn the_options_that_run_the_function_on_its_own_are_kept_in_order() {
        let options = Options::parse(quote!(
            store = S::new(),
            namespace = "n",
            hard_timeout = D,
            fail_safe = D,
            refresh_ahead = 0.5
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let detached: Vec<String> = options.detached.iter().map(|i| i.to_string()).collect();
        assert_eq!(detached, ["hard_timeout", "refresh_ahead"]);
        assert!(options.fail_safe.is_some());
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("expir", "expire"), 1);
        assert_eq!(edit_distance("namespce", "namespace"), 1);
        assert_eq!(edit_distance("store", "store"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(edit_distance("ttl", "expire") > 2);
    }
}
