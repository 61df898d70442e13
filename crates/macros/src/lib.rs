//! The `#[cache_wrapper]` attribute of [memocache]: memoize a function's
//! results in Redis (or any memocache store), with the keys and values of the
//! Python decorator `dtpyfw.redis.caching.cache_wrapper`.
//!
//! Use it through the `memocache` crate (feature `macros`, on by default),
//! which re-exports it as `memocache::cache_wrapper`. The expansion refers to
//! `::memocache::...`, so depend on the facade under its own name: a crate
//! that renames it (`cache = { package = "memocache" }`) cannot use the
//! attribute.
//!
//! [memocache]: https://docs.rs/memocache
#![warn(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::TokenTree;
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Item, ItemFn, Token};

use options::RawOption;

mod expand;
mod generics;
mod options;
mod signature;

/// Caches a function's results, like the Python decorator
/// `@cache_wrapper(redis=..., namespace=..., expire=..., cache_only_for=...,
/// skip_cache_keys=...)`: a call whose arguments were seen before is answered
/// from the store, without running the body.
///
/// ```
/// use memocache::{MemoryStore, cache_wrapper};
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// #[cache_wrapper(store = MemoryStore::new(), namespace = "users", expire = 60)]
/// fn user_name(user_id: u64) -> String {
///     # RUNS.fetch_add(1, SeqCst);
///     format!("user-{user_id}") // a slow lookup, in real life
/// }
///
/// assert_eq!(user_name(7), "user-7");
/// assert_eq!(user_name(7), "user-7"); // from the store
/// # assert_eq!(RUNS.load(SeqCst), 1);
/// assert!(user_name_invalidate(7).unwrap()); // forget that call
/// # assert_eq!(user_name(7), "user-7");
/// # assert_eq!(RUNS.load(SeqCst), 2);
/// ```
///
/// # Options
///
/// | option | meaning |
/// |---|---|
/// | `store = EXPR` | where to cache; with it the macro builds the memoizer (below) |
/// | `namespace = "..."` | key prefix (required with `store`) |
/// | `expire = 60` / `expire = EXPR` | time to live: whole seconds, or a `u64` / `Duration` expression; `0` or absent: no expiry |
/// | `local_tier = EXPR` | a `memocache::LocalTier`: keep decoded values in process, kept true by the store's change reports (see `MemoizerBuilder::local_tier`) |
/// | `cache_if = CLOSURE` | cache a result only when the closure, given `&T` (the cached value: the return type, or its `Ok` type), returns `true` (see `MemoizerBuilder::cache_if`) |
/// | `expire_with = CLOSURE` | each result's own expiry: the closure, given `&T`, returns `Some(Duration)`, or `None` for `expire` (see `MemoizerBuilder::expire_with`) |
/// | `cache_only_for = [("status", ["active", "pending"]), ...]` | cache a call only when some parameter has one of its listed values |
/// | `skip_cache_keys = ["request_id", ...]` | parameters left out of the key |
/// | `write_behind = true` | return as soon as the result is computed and write it in the background (default `false`: the call waits for its write); a short-lived program then awaits `name_memoizer().flush()` before it exits, and a crash loses the writes under way |
/// | `op_timeout = EXPR` | how long one store operation may take: a `Duration`, or `None` for the client's own timeouts (default 500 ms) |
/// | `fail_safe = EXPR` | a `Duration`: when the body fails (an `Err`, a panic), serve the value its entry held if it expired less than this ago (see `MemoizerBuilder::fail_safe`) |
/// | `fail_safe_throttle = EXPR` | a `Duration`: how long a stale value served after a failure is served again without running the body (default 30 s) |
/// | `refresh_ahead = 0.8` / `refresh_ahead = EXPR` | an `f64` strictly between 0 and 1: a hit past that fraction of its entry's life returns at once and refreshes the entry in the background (see `MemoizerBuilder::refresh_ahead`) |
/// | `soft_timeout = EXPR` | a `Duration`: a miss whose body runs longer returns the stale value `fail_safe` keeps, if any; the body finishes in the background |
/// | `hard_timeout = EXPR` | a `Duration`: a miss whose body runs longer returns the stale value if any, else `Err(E::from(memocache::Elapsed))`; the body finishes in the background |
/// | `distributed_lock = EXPR` | a `Duration`, the lease: on a miss, one process computes and the others wait for its entry (see `MemoizerBuilder::distributed_lock`) |
/// | `memoizer = EXPR` | use your own [`Memoizer`], instead of `store` and the options above that configure it |
/// | `positional = N` | the first `N` parameters (counting `self` with `key_self`) are positional arguments of the key |
/// | `key_self` | put the receiver (`Serialize`) in the key, as the parameter `"self"` |
/// | `skip_self` | leave the receiver out of the key: your promise that the result does not depend on it |
/// | `result` / `plain` | cache only `Ok` values / every value, whatever the return type looks like |
///
/// With `store = EXPR`, the expression is evaluated once, at the first call
/// of the function or of one of its companions; they share one memoizer. A
/// sync `fn` needs a [`BlockingStore`], an `async fn` a [`Store`] (`'static`;
/// it is kept as an `Arc<dyn ...>`). The expression may also give a
/// constructor's `Result` (`RedisStore::connect_lazy(..)`): an `Err` is
/// logged once, at `error`, with the function's name and the error (which
/// names the setting to fix), and the function then runs uncached (its
/// `_invalidate` companion returns that error) instead of panicking at a
/// call. To share one store between functions (one connection and one
/// circuit breaker for a service), give each a reference to one `static`
/// `LazyLock` of that `Result`: `store = &REDIS`; a `RedisStore` or a
/// `FredStore` serves the sync functions too, through its blocking view.
///
/// With `refresh_ahead`, `soft_timeout` or `hard_timeout`, the body runs on
/// its own (for an `async fn` a task of the current tokio runtime, for a sync
/// `fn` a thread) and may outlive its call, so it must own what it uses: the
/// parameters must be owned values (`Send + 'static`; no references, no
/// `self`, or it is a compile error), and a `Result`'s error type must
/// implement `From<memocache::Elapsed>`, what a call given up at the hard
/// timeout returns. A short-lived program awaits `name_memoizer().flush()`
/// before it exits, for the bodies still running to write their results.
///
/// With `memoizer = EXPR`, the expression is evaluated at each call and must
/// give a `Memoizer`, a `&Memoizer` or an `Arc<Memoizer>`; in a method it may
/// use `self` (`memoizer = self.cache`). The namespace, expiry, conditions
/// and codec are then that memoizer's; `skip_cache_keys` still works and
/// leaves those parameters out of the arguments the memoizer sees. Its
/// fail-safe applies, but not its refresh-ahead nor its timeouts (the
/// function may borrow, so its body runs within the call; the memoizer
/// logs once that they are passed by).
///
/// # The key
///
/// Each parameter is a keyword argument named as in the signature, in
/// declaration order: `fn orders(user_id: u64, status: &str)` called as
/// `orders(123, "active")` has the key of the Python call
/// `orders(user_id=123, status="active")`, so `skip_cache_keys` and
/// `cache_only_for` find parameters by name. With `positional = 1` it is the
/// key of `orders(123, status="active")` instead (conditions still see
/// `user_id` by name). A method must say what its receiver is to the
/// key: `key_self` puts it in the key, `skip_self` leaves it out (the
/// reference hashes `str(self)`, which holds a memory address, so no
/// Python method cache can be shared anyway); without either it is a
/// compile error, since two instances holding different state would
/// otherwise share each other's results.
/// Parameters must be `Serialize`, except skipped ones that no condition
/// names: those never reach the key.
///
/// # The result
///
/// The return type must be `Serialize + DeserializeOwned`. A `Result<T, E>`
/// (or a one-argument alias such as `io::Result<T>`: any last path segment
/// `Result`) caches only `Ok` values, and an `Err` is computed again next
/// time; `result` forces this for other aliases, `plain` turns it off. An
/// `Option<T>` caches `None` like any value. `return` and `?` in the body
/// work as usual. Cache failures never reach the caller: they are logged
/// with `tracing` and the body's own result is returned.
///
/// # Companions
///
/// Next to `fn name(params) -> R`, the attribute adds (same visibility; for
/// a method, with a `&self` receiver):
///
/// - `name_invalidate(params) -> Result<bool, memocache::Error>`, `async`
///   when `name` is: deletes the entry of that exact call and answers
///   whether there was one. It reports store failures, since the caller
///   asked the cache something directly. A background write of that entry
///   still under way (the async path's write-behind) finishes first, so it
///   cannot bring the entry back.
/// - `name_cache_key(params) -> Result<String, memocache::Error>`: the key
///   of that call. It fails only when an argument cannot be encoded (such a
///   call is never cached).
/// - `name_refresh(params) -> R`, with `name`'s own signature: runs the
///   body whatever is cached, writes the result (as a miss would, `cache_if`
///   and `expire_with` included) before returning it, so the next call is
///   served the new value.
/// - `name_uncached(params) -> R`, with `name`'s own signature: runs the
///   body without the cache, reading and writing nothing (one call's
///   bypass). Both repeat the body: a `static` declared inside it is one
///   per function.
/// - `name_memoizer() -> &'static Memoizer<..>`, with `store = ...` (with
///   `memoizer = ...` you hold it already): its `stats()`, `flush()` and
///   `clear_namespace()`. With `write_behind = true`, a short-lived
///   program calls `name_memoizer().flush().await` before it exits.
///
/// # Shapes
///
/// Sync and `async` functions; free functions, methods taking `&self`,
/// `&mut self` or `self`, associated functions and generic functions, in
/// inherent `impl` blocks (a trait `impl` cannot hold the companions).
/// Parameters must be plain names, by value or by reference (`&str`,
/// `&[T]`, `&T`, `impl Trait`). `const fn`s and `impl Trait` return types are
/// rejected.
///
/// ```
/// use memocache::{Memoizer, MemoryStore, cache_wrapper};
/// use std::time::Duration;
///
/// struct Orders {
///     cache: Memoizer<MemoryStore>,
/// }
///
/// impl Orders {
///     /// The orders of a user in a given status.
///     #[cache_wrapper(memoizer = self.cache, skip_self, positional = 1)]
///     async fn list(&self, user_id: u64, status: &str) -> Result<Vec<String>, String> {
///         if status.is_empty() {
///             return Err("no status".into()); // not cached
///         }
///         Ok(vec![format!("{user_id}-{status}-1")])
///     }
/// }
///
/// #[cache_wrapper(
///     store = MemoryStore::new(),
///     namespace = "reports",
///     expire = Duration::from_secs(600),
///     cache_only_for = [("status", ["completed", "shipped"])],
///     skip_cache_keys = ["request_id"],
/// )]
/// async fn report(status: &str, request_id: &str) -> Option<String> {
///     (status != "unknown").then(|| format!("{status} report"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let orders = Orders {
///     cache: Memoizer::builder(MemoryStore::new()).namespace("orders").build(),
/// };
/// assert_eq!(orders.list(1, "shipped").await.unwrap(), ["1-shipped-1"]);
/// assert!(orders.list(1, "").await.is_err());
/// let key = orders.list_cache_key(1, "shipped").unwrap();
/// assert!(key.starts_with("orders:"));
///
/// assert_eq!(report("completed", "req-1").await.as_deref(), Some("completed report"));
/// assert_eq!(
///     report_cache_key("completed", "req-1").unwrap(),
///     report_cache_key("completed", "req-2").unwrap(), // request_id is not in the key
/// );
/// # }
/// ```
///
/// [`Memoizer`]: https://docs.rs/memocache/latest/memocache/struct.Memoizer.html
/// [`Store`]: https://docs.rs/memocache/latest/memocache/trait.Store.html
/// [`BlockingStore`]: https://docs.rs/memocache/latest/memocache/trait.BlockingStore.html
/// [`MemoryStore`]: https://docs.rs/memocache/latest/memocache/struct.MemoryStore.html
#[proc_macro_attribute]
pub fn cache_wrapper(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item = proc_macro2::TokenStream::from(item);
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "#[cache_wrapper] goes on a `fn` with a body: a free function, or a method or \
                 associated function of an inherent `impl`",
            );
            return not_a_function(&error, &attr, item);
        }
    };
    let expansion = match options::Options::parse(attr.clone()) {
        Ok(options) => expand::expand(options, func.clone()),
        Err(mut error) => {
            // Report the signature's problems too, in the same build.
            if let Err(more) = signature::Analysis::of(&func) {
                error.combine(more);
            }
            Err(error)
        }
    };
    match expansion {
        Ok(tokens) => tokens.into(),
        Err(error) => with_item(&error, &attr, func),
    }
}

/// The errors, and the function unchanged so that its callers still
/// compile, but for one statement in front of its body: a closure, never
/// called, holding the errors and the options' expressions, so that what
/// those expressions use (`use memocache::MemoryStore` for
/// `store = MemoryStore::new()`) is still used, with no "unused import"
/// warning. The errors there also silence "type annotations needed" for
/// the expressions, which lack the types the expansion would give them
/// (`cache_if = |v| ...`); rustc keeps that error for bodies without one.
fn with_item(error: &syn::Error, attr: &proc_macro2::TokenStream, mut func: ItemFn) -> TokenStream {
    let receiver = func.sig.receiver().is_some();
    let keep = keep_alive(error, attr, receiver, func.sig.asyncness.is_some());
    func.block.stmts.insert(0, syn::parse_quote!(#keep;));
    func.into_token_stream().into()
}

/// [`with_item`] for an item that is no function: where the item can
/// only be a module's (or a block's) item, the closure goes into an
/// unnamed `const` before it; anywhere else (an `impl` or a trait holds no
/// such `const`) the errors go alone.
fn not_a_function(
    error: &syn::Error,
    attr: &proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> TokenStream {
    let module_only = matches!(
        syn::parse2::<Item>(item.clone()),
        Ok(Item::Enum(_)
            | Item::ExternCrate(_)
            | Item::ForeignMod(_)
            | Item::Impl(_)
            | Item::Mod(_)
            | Item::Struct(_)
            | Item::Trait(_)
            | Item::TraitAlias(_)
            | Item::Union(_)
            | Item::Use(_))
    );
    let mut tokens = if module_only {
        let keep = keep_alive(error, attr, false, false);
        quote!(const _: () = { #keep; };)
    } else {
        error.to_compile_error()
    };
    tokens.extend(item);
    tokens.into()
}

/// `let _ = || { errors; let _ = EXPR; ... }` for the expressions of the
/// options (each element of an array or tuple apart, as they need not
/// share a type): `async ||` in an `async fn`, whose `memoizer = ...` may
/// `.await`. An expression naming `self` or `Self` is left out where there
/// is no receiver, as it would be a new error there.
fn keep_alive(
    error: &syn::Error,
    attr: &proc_macro2::TokenStream,
    receiver: bool,
    is_async: bool,
) -> proc_macro2::TokenStream {
    let mut exprs = Vec::new();
    // Lenient: the options may be what failed to parse.
    let parsed = Punctuated::<RawOption, Token![,]>::parse_terminated.parse2(attr.clone());
    for value in parsed.into_iter().flatten().filter_map(|o| o.value) {
        leaves(value, &mut exprs);
    }
    let exprs = exprs
        .into_iter()
        .filter(|expr| receiver || !names_self(expr.to_token_stream()));
    let errors = error.to_compile_error();
    let asyncness = is_async.then(|| quote!(async));
    quote! {
        let _ = #asyncness || {
            #errors
            #(let _ = #exprs;)*
        }
    }
}

/// The expressions in `expr` that may use something: the elements of
/// arrays and tuples (`cache_only_for`'s values), apart; no literals.
fn leaves(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::Array(array) => array.elems.into_iter().for_each(|e| leaves(e, out)),
        Expr::Tuple(tuple) => tuple.elems.into_iter().for_each(|e| leaves(e, out)),
        Expr::Paren(paren) => leaves(*paren.expr, out),
        Expr::Group(group) => leaves(*group.expr, out),
        Expr::Lit(_) => {}
        expr => out.push(expr),
    }
}

/// Whether `tokens` name `self` or `Self`.
fn names_self(tokens: proc_macro2::TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "self" || ident == "Self",
        TokenTree::Group(group) => names_self(group.stream()),
        _ => false,
    })
}

/// Collects every error of a pass, so that one build reports them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
