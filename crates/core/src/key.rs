//! The reference's cache-key layout.
//!
//! ```text
//! key = namespace ":" H(json(args)) ":" H(json(kwargs))   -- then all trailing ':' stripped
//! ```
//!
//! where `json` is Python's `json.dumps(x, default=str)` (see
//! [`python`](crate::python)), the args part is present only with at least one
//! positional argument, the kwargs part only with at least one keyword
//! argument left after `skip_cache_keys`, and the namespace part only when
//! the namespace is not empty.

use std::borrow::Cow;
use std::ops::Range;

use serde::Serialize;

use crate::hasher::KeyHasher;
use crate::python;
use crate::{Error, Result};

/// The arguments of one call, as a Python caller would pass them: positional
/// arguments in order, then keyword arguments in the order given.
///
/// Each value is encoded to Python JSON when it is added, so building the
/// key later only hashes. A value that cannot be encoded does not panic: the
/// error is kept, and a [`Memoizer`](crate::Memoizer) runs such a call
/// without the cache and logs why.
///
/// ```
/// use memocache::Args;
///
/// // The Python call f(123, status="active")
/// let args = Args::new().arg(&123).kwarg("status", &"active");
/// assert_eq!(args.kwarg_json("status"), Some(&b"\"active\""[..]));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// The JSON texts of all values, back to back.
    json: Vec<u8>,
    positional: Vec<Entry>,
    keyword: Vec<Entry>,
    error: Option<python::Error>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: Option<Cow<'static, str>>,
    json: Range<usize>,
}

impl Args {
    /// No arguments: the key is the namespace alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a positional argument.
    #[must_use]
    pub fn arg<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.push_arg(None::<&'static str>, value);
        self
    }

    /// Adds a positional argument that `cache_only_for` conditions can still
    /// see by name (the reference's conditions only see keyword arguments;
    /// this lets a positional parameter be conditioned on too). The name is
    /// not part of the key.
    #[must_use]
    pub fn named_arg<T: Serialize + ?Sized>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: &T,
    ) -> Self {
        self.push_arg(Some(name), value);
        self
    }

    /// Adds a keyword argument.
    #[must_use]
    pub fn kwarg<T: Serialize + ?Sized>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: &T,
    ) -> Self {
        self.push_kwarg(name, value);
        self
    }

    /// Adds a positional argument, optionally visible to conditions by name.
    pub fn push_arg<T: Serialize + ?Sized>(
        &mut self,
        name: Option<impl Into<Cow<'static, str>>>,
        value: &T,
    ) {
        if let Some(json) = self.encode(value) {
            self.positional.push(Entry {
                name: name.map(Into::into),
                json,
            });
        }
    }

    /// Adds a keyword argument.
    pub fn push_kwarg<T: Serialize + ?Sized>(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: &T,
    ) {
        if let Some(json) = self.encode(value) {
            self.keyword.push(Entry {
                name: Some(name.into()),
                json,
            });
        }
    }

    fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Option<Range<usize>> {
        let start = self.json.len();
        match python::write_value(&mut self.json, value) {
            Ok(()) => Some(start..self.json.len()),
            Err(e) => {
                self.json.truncate(start);
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// The first argument that could not be encoded, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_ref().map(python::Error::message)
    }

    /// The Python JSON text of the keyword argument (or named positional
    /// argument) `name`, as conditions compare it.
    pub fn kwarg_json(&self, name: &str) -> Option<&[u8]> {
        self.keyword
            .iter()
            .chain(&self.positional)
            .find(|e| e.name.as_deref() == Some(name))
            .map(|e| &self.json[e.json.clone()])
    }

    /// Whether no argument was given.
    pub fn is_empty(&self) -> bool {
        self.positional.is_empty() && self.keyword.is_empty()
    }

    /// The positional arguments in order: each one's name (if named) and
    /// JSON text.
    pub(crate) fn positional(&self) -> impl Iterator<Item = (Option<&str>, &[u8])> {
        self.positional
            .iter()
            .map(|e| (e.name.as_deref(), &self.json[e.json.clone()]))
    }

    /// The keyword arguments in the order given: each one's name and JSON
    /// text.
    pub(crate) fn keyword(&self) -> impl Iterator<Item = (Option<&str>, &[u8])> {
        self.keyword
            .iter()
            .map(|e| (e.name.as_deref(), &self.json[e.json.clone()]))
    }
}

/// Builds the reference's cache key for a call.
///
/// Keyword arguments named in `skip_cache_keys` are left out; positional
/// arguments are always part of the key. Fails only when an argument could
/// not be encoded.
///
/// ```
/// use memocache::key::{Args, Sha256, cache_key};
///
/// let key = cache_key("user", &Args::new().arg(&123), &[], &Sha256).unwrap();
/// assert_eq!(key.len(), "user:".len() + 64);
/// assert_eq!(cache_key("ns:", &Args::new(), &[], &Sha256).unwrap(), "ns");
/// ```
pub fn cache_key<H: KeyHasher + ?Sized>(
    namespace: &str,
    args: &Args,
    skip_cache_keys: &[String],
    hasher: &H,
) -> Result<String> {
    if let Some(e) = &args.error {
        return Err(Error::Encode(Box::new(e.clone())));
    }
    let mut key = String::with_capacity(namespace.len() + 2 * 65);
    key.push_str(namespace);
    if !namespace.is_empty() {
        key.push(':');
    }
    let mut text = Vec::with_capacity(args.json.len() + 16 * args.keyword.len() + 2);
    if !args.positional.is_empty() {
        text.push(b'[');
        for (i, entry) in args.positional.iter().enumerate() {
            if i > 0 {
                text.extend_from_slice(b", ");
            }
            text.extend_from_slice(&args.json[entry.json.clone()]);
        }
        text.push(b']');
        hasher.write_hex_digest(&text, &mut key);
        key.push(':');
    }
    let mut kept = args.keyword.iter().filter_map(|e| {
        let name = e.name.as_deref().expect("keyword arguments have names");
        (!skip_cache_keys.iter().any(|s| s == name)).then_some((name, &e.json))
    });
    if let Some(first) = kept.next() {
        text.clear();
        text.push(b'{');
        for (i, (name, json)) in std::iter::once(first).chain(kept).enumerate() {
            if i > 0 {
                text.extend_from_slice(b", ");
            }
            python::write_str(&mut text, name);
            text.extend_from_slice(b": ");
            text.extend_from_slice(&args.json[json.clone()]);
        }
        text.push(b'}');
        hasher.write_hex_digest(&text, &mut key);
        key.push(':');
    }
    key.truncate(key.trim_end_matches(':').len());
    Ok(key)
}

/// What the key of an entry's stale copy ends with; see [`stale_key`].
pub const STALE_SUFFIX: &str = "|stale";

/// The key of the stale copy of the entry at `key`, which a memoizer with
/// fail-safe writes beside each entry with a longer life: `key` followed
/// by [`STALE_SUFFIX`]. The reference never reads it (its keys end in a
/// digest or the namespace), a Redis ACL pattern that covers `key`'s
/// namespace (`ns:*`) covers it, and [`KeyMatch::Namespace`] matches it
/// with its entry.
pub fn stale_key(key: &str) -> String {
    let mut stale = String::with_capacity(key.len() + STALE_SUFFIX.len());
    stale.push_str(key);
    stale.push_str(STALE_SUFFIX);
    stale
}

/// What follows an entry's key in the key of its cross-process lock (see
/// [`Store::lock`](crate::Store::lock)): a Redis store keeps the lock of
/// `key` at `key|lock`, or at `key|lock{tag}` with a hash tag that puts it
/// in `key`'s cluster slot. The reference never reads it (its keys end in
/// a digest or the namespace), a Redis ACL pattern that covers `key`'s
/// namespace covers it, and [`KeyMatch::Namespace`] matches it with its
/// entry.
pub const LOCK_SUFFIX: &str = "|lock";

/// The entry a key of the store belongs to: `key` itself, or the entry
/// whose stale copy or lock it is.
fn entry_of(key: &str) -> &str {
    if let Some(entry) = key.strip_suffix(STALE_SUFFIX) {
        return entry;
    }
    match key.rfind(LOCK_SUFFIX) {
        Some(at) => {
            let tail = &key[at + LOCK_SUFFIX.len()..];
            let tagged = tail
                .strip_prefix('{')
                .and_then(|tag| tag.strip_suffix('}'))
                .is_some_and(|tag| !tag.contains(['{', '}']));
            if tail.is_empty() || tagged {
                &key[..at]
            } else {
                key
            }
        }
        None => key,
    }
}

/// A set of keys to remove at once; see
/// [`Store::delete_matching`](crate::Store::delete_matching).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyMatch {
    /// Every key that starts with this prefix, whatever follows it.
    Prefix(String),
    /// The entries with arguments of the memoizer namespace: the keys
    /// `namespace:<digest>` and `namespace:<digest>:<digest>`, their
    /// [stale copies](stale_key) and their [locks](LOCK_SUFFIX), but neither the keys of a nested
    /// namespace (`namespace:sub:...`) nor other keys under `namespace:`.
    /// (The namespace's own key, for calls without arguments, is one exact
    /// key; delete it with `delete`.)
    Namespace(String),
}

/// The shortest digest a namespace entry's key part can be: 32 hex digits
/// (SHA-256 and BLAKE3 give 64), which no readable nested namespace name
/// looks like.
const MIN_DIGEST_LEN: usize = 32;

impl KeyMatch {
    /// The prefix every key of the set starts with, for a `SCAN MATCH`.
    pub fn prefix(&self) -> String {
        match self {
            KeyMatch::Prefix(prefix) => prefix.clone(),
            KeyMatch::Namespace(namespace) => format!("{namespace}:"),
        }
    }

    /// The Redis `SCAN MATCH` pattern that finds every key of the set (and
    /// maybe more: filter with [`matches`](Self::matches)): the prefix with
    /// the glob characters `* ? [ ] \` escaped, then `*`.
    pub fn scan_pattern(&self) -> String {
        let prefix = self.prefix();
        let mut pattern = String::with_capacity(prefix.len() + 8);
        for c in prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// Whether the raw key `key` (as a store lists it) is in the set; a key
    /// that is not UTF-8 never is.
    pub fn matches_bytes(&self, key: &[u8]) -> bool {
        std::str::from_utf8(key).is_ok_and(|key| self.matches(key))
    }

    /// Whether `key` is in the set.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            KeyMatch::Prefix(prefix) => key.starts_with(prefix.as_str()),
            KeyMatch::Namespace(namespace) => entry_of(key)
                .strip_prefix(namespace.as_str())
                .and_then(|rest| rest.strip_prefix(':'))
                .is_some_and(|parts| {
                    let parts: Vec<&str> = parts.split(':').collect();
                    parts.len() <= 2
                        && parts.iter().all(|part| {
                            part.len() >= MIN_DIGEST_LEN
                                && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                        })
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sha256;

    fn sha(text: &str) -> String {
        let mut out = String::new();
        Sha256.write_hex_digest(text.as_bytes(), &mut out);
        out
    }

    #[test]
    fn layout_follows_the_reference() {
        let args = Args::new()
            .arg(&1)
            .arg(&"a")
            .kwarg("b", &2)
            .kwarg("c", &true);
        let key = cache_key("ns", &args, &[], &Sha256).unwrap();
        assert_eq!(
            key,
            format!(
                "ns:{}:{}",
                sha("[1, \"a\"]"),
                sha("{\"b\": 2, \"c\": true}")
            )
        );
    }

    #[test]
    fn skipped_keywords_leave_the_key_and_empty_parts_vanish() {
        let args = Args::new().kwarg("request_id", &"abc");
        assert_eq!(
            cache_key("ns", &args, &["request_id".into()], &Sha256).unwrap(),
            "ns"
        );
        assert_eq!(cache_key("", &Args::new(), &[], &Sha256).unwrap(), "");
        assert_eq!(cache_key("a::", &Args::new(), &[], &Sha256).unwrap(), "a");
    }

    #[test]
    fn skip_does_not_touch_positional_arguments() {
        let args = Args::new().named_arg("id", &7);
        let key = cache_key("ns", &args, &["id".into()], &Sha256).unwrap();
        assert_eq!(key, format!("ns:{}", sha("[7]")));
    }

    #[test]
    fn a_namespace_match_takes_entries_not_nested_namespaces() {
        let ns = KeyMatch::Namespace("user:profile".into());
        let entry = cache_key(
            "user:profile",
            &Args::new().arg(&1).kwarg("a", &2),
            &[],
            &Sha256,
        )
        .unwrap();
        let positional = cache_key("user:profile", &Args::new().arg(&1), &[], &Sha256).unwrap();
        assert!(ns.matches(&entry));
        assert!(ns.matches(&positional));
        let nested = cache_key("user:profile:fast", &Args::new().arg(&1), &[], &Sha256).unwrap();
        assert!(!ns.matches(&nested));
        assert!(!ns.matches("user:profile:fast"));
        assert!(
            !ns.matches("user:profile"),
            "the own key is deleted on its own"
        );
        assert!(!ns.matches("user:profilex:0123456789abcdef0123456789abcdef"));
        assert!(ns.matches(&stale_key(&entry)), "an entry's stale copy");
        assert!(ns.matches(&format!("{entry}|lock")), "an entry's lock");
        assert!(
            ns.matches(&format!("{entry}|lock{{4071}}")),
            "an entry's lock with a hash tag"
        );
        assert!(!ns.matches(&format!("{entry}|lock{{a}}b")), "not a lock");
        assert!(!ns.matches(&format!("{entry}|locks")), "not a lock");
        assert!(!ns.matches(&stale_key(&nested)));
        assert!(!ns.matches(&stale_key("user:profile")));
        assert!(!ns.matches(&format!("{entry}|other")));
        assert!(KeyMatch::Prefix("user:profile".into()).matches(&nested));
        assert_eq!(ns.prefix(), "user:profile:");
    }

    #[test]
    fn scan_patterns_escape_glob_characters() {
        let glob = KeyMatch::Prefix("ns:a?c*[x]\\:".into());
        assert_eq!(glob.scan_pattern(), "ns:a\\?c\\*\\[x\\]\\\\:*");
        assert_eq!(KeyMatch::Prefix(String::new()).scan_pattern(), "*");
        assert_eq!(KeyMatch::Namespace("a*".into()).scan_pattern(), "a\\*:*");
        assert!(!glob.matches_bytes(b"ns:a?c*[x]\\:\xff"));
        assert!(glob.matches_bytes(b"ns:a?c*[x]\\:1"));
    }

    #[test]
    fn an_unencodable_argument_is_an_error_not_a_panic() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1], 2);
        let args = Args::new().arg(&map).arg(&1);
        assert!(args.error().is_some());
        let error = cache_key("ns", &args, &[], &Sha256).unwrap_err();
        assert!(matches!(error, Error::Encode(_)), "{error:?}");
        let source = std::error::Error::source(&error).expect("the encoder's error");
        assert!(source.is::<python::Error>());
        assert_eq!(Some(source.to_string().as_str()), args.error());
    }
}
