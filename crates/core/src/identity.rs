//! A call's identity: how a memoizer finds the key it already built for
//! the same arguments, without building it again.
//!
//! The reference's key is a SHA-256 digest (hex) of the arguments' Python
//! JSON, and the arguments' JSON is itself built into an [`Args`]: about
//! a quarter of a microsecond per call, paid by every hit although the key
//! of the same arguments never changes. A call's identity is a keyed
//! 128-bit hash (SipHash-1-3) of that same JSON, written into a reused
//! buffer and hashed there, with nothing allocated. Each memoizer keeps
//! the keys it built by identity ([`Keys`]), so a hit builds no key: only
//! a call whose arguments it has not seen (or has forgotten) does.
//!
//! The hash is keyed by 128 random bits drawn once per process, so
//! arguments cannot be chosen to collide: a collision is as likely as
//! guessing the key. What is hashed is a sequence of (kind, name, JSON
//! text), each part preceded by its length, so two calls have the same
//! input only if they have the same positional and keyword arguments, in
//! the same JSON: and then the same key and the same `cache_only_for`
//! verdict.

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, Weak};
use std::time::Instant;

use serde::Serialize;
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::key::Args;
use crate::{Error, KeyHasher, Memoizer, python};

/// What distinguishes an argument in a call's identity.
#[derive(Clone, Copy)]
enum Kind {
    Positional = 0,
    Named = 1,
    Keyword = 2,
}

/// The arguments of one call, as a [`Memoizer`]'s `call` and `refresh`
/// entry points take them: an [`Args`]; a [`LazyArgs`], which encodes the
/// arguments into an `Args` only when the memoizer has not seen them yet;
/// or the [`Resolved`] key of either, which holds no borrow of the
/// arguments (what `#[cache_wrapper]` passes, so that the computation can
/// own them).
///
/// Sealed: these three are the only forms, since a memoizer trusts that
/// the same identity means the same arguments.
pub trait Arguments: sealed::Sealed {
    /// What `memoizer` makes of these arguments: their key, found by
    /// identity or built (and remembered), or the cache bypassed.
    #[doc(hidden)]
    fn resolve<S, C, H: KeyHasher>(&self, memoizer: &Memoizer<S, C, H>) -> Cow<'_, Resolved>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::key::Args {}
    impl<I, B> Sealed for super::LazyArgs<I, B> {}
    impl Sealed for super::Resolved {}
}

/// A call's arguments resolved by a memoizer
/// ([`Memoizer::resolve`](crate::Memoizer::resolve)): their key, or why
/// the call bypasses the cache (and, resolved for a call made at once,
/// the copy remembered for them if it stood then). It borrows nothing;
/// another memoizer refuses it (the call bypasses the cache, logged).
#[derive(Clone)]
pub struct Resolved {
    /// Which memoizer resolved it (the address of its keys).
    pub(crate) owner: usize,
    pub(crate) keyed: Keyed,
    /// The arguments' identity, if they have one.
    pub(crate) identity: Option<u128>,
    /// The copy remembered for them, still standing when resolved.
    pub(crate) copy: Option<Remembered>,
}

/// A copy a memoizer remembered for a call's arguments, and where it
/// lives.
#[derive(Clone)]
pub(crate) struct Remembered {
    pub(crate) value: Arc<dyn Any + Send + Sync>,
    /// Whether it is the local tier's copy (else a store's decoded value).
    pub(crate) local: bool,
}

impl Arguments for Args {
    fn resolve<S, C, H: KeyHasher>(&self, memoizer: &Memoizer<S, C, H>) -> Cow<'_, Resolved> {
        Cow::Owned(memoizer.keyed(self.identity(), || Cow::Borrowed(self)))
    }
}

impl<I, B> Arguments for LazyArgs<I, B>
where
    I: Fn(&mut Identity),
    B: Fn() -> Args,
{
    fn resolve<S, C, H: KeyHasher>(&self, memoizer: &Memoizer<S, C, H>) -> Cow<'_, Resolved> {
        Cow::Owned(memoizer.keyed(self.identity(), || Cow::Owned((self.build)())))
    }
}

impl Arguments for Resolved {
    /// Itself, for the memoizer that resolved it; for another one, a call
    /// that bypasses the cache and says why (its key may be another's).
    fn resolve<S, C, H: KeyHasher>(&self, memoizer: &Memoizer<S, C, H>) -> Cow<'_, Resolved> {
        if memoizer.keys().id() == self.owner {
            return Cow::Borrowed(self);
        }
        Cow::Owned(Resolved {
            owner: self.owner,
            keyed: Keyed::Unencodable(Arc::new(Error::config(
                "these arguments were resolved by another memoizer: resolve them with the one \
                 that calls",
            ))),
            identity: None,
            copy: None,
        })
    }
}

impl Args {
    /// The call's identity: a keyed 128-bit hash of its arguments' JSON,
    /// or `None` when one of them does not encode.
    pub(crate) fn identity(&self) -> Option<u128> {
        if self.error().is_some() {
            return None;
        }
        let mut identity = Identity::new();
        for (name, json) in self.positional() {
            let kind = if name.is_some() {
                Kind::Named
            } else {
                Kind::Positional
            };
            identity.feed(kind, name, json);
        }
        for (name, json) in self.keyword() {
            identity.feed(Kind::Keyword, name, json);
        }
        identity.finish()
    }
}

/// A call's arguments, given twice by `#[cache_wrapper]`'s expansion: as
/// what feeds an [`Identity`] (`identify`), and as what builds the
/// [`Args`] (`build`), which runs only when the memoizer has not seen the
/// arguments yet.
///
/// Both must give the same arguments in the same order; the attribute
/// writes both from one list.
pub struct LazyArgs<I, B> {
    identify: I,
    build: B,
}

impl<I, B> LazyArgs<I, B>
where
    I: Fn(&mut Identity),
    B: Fn() -> Args,
{
    /// The arguments `identify` feeds and `build` builds.
    pub fn new(identify: I, build: B) -> Self {
        LazyArgs { identify, build }
    }

    fn identity(&self) -> Option<u128> {
        let mut identity = Identity::new();
        (self.identify)(&mut identity);
        identity.finish()
    }
}

/// The process's key for identities: 128 random bits, drawn once.
fn secret() -> (u64, u64) {
    static SECRET: OnceLock<(u64, u64)> = OnceLock::new();
    *SECRET.get_or_init(|| {
        // Each `RandomState` hashes with keys drawn from the OS's
        // randomness: its hash of a constant is as unpredictable.
        (
            RandomState::new().hash_one(0_u8),
            RandomState::new().hash_one(1_u8),
        )
    })
}

thread_local! {
    /// Where an argument's JSON is written before it is hashed: reused, so
    /// that identifying a call allocates nothing once it has grown.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer larger than this is not kept for the next call.
const SCRATCH_KEPT: usize = 64 << 10;

/// The hash a [`LazyArgs`] feeds its arguments to: the same methods as
/// [`Args`]' builder, each argument's JSON hashed instead of kept.
pub struct Identity {
    hasher: SipHasher13,
    /// Set when an argument did not encode: the call then has no identity.
    failed: bool,
}

impl Identity {
    fn new() -> Self {
        let (k0, k1) = secret();
        Identity {
            hasher: SipHasher13::new_with_keys(k0, k1),
            failed: false,
        }
    }

    /// A positional argument; see [`Args::arg`].
    pub fn arg<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        self.push(Kind::Positional, None, value)
    }

    /// A positional argument that conditions can see by name; see
    /// [`Args::named_arg`].
    pub fn named_arg<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> &mut Self {
        self.push(Kind::Named, Some(name), value)
    }

    /// A keyword argument; see [`Args::kwarg`].
    pub fn kwarg<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> &mut Self {
        self.push(Kind::Keyword, Some(name), value)
    }

    fn push<T: Serialize + ?Sized>(
        &mut self,
        kind: Kind,
        name: Option<&str>,
        value: &T,
    ) -> &mut Self {
        if self.failed {
            return self;
        }
        let mut encode = |buffer: &mut Vec<u8>| {
            buffer.clear();
            match python::write_value(buffer, value) {
                Ok(()) => self.feed(kind, name, buffer),
                Err(_) => self.failed = true,
            }
            if buffer.capacity() > SCRATCH_KEPT {
                *buffer = Vec::new();
            }
        };
        // A value whose serialization identifies another call (it has
        // the buffer) writes into a buffer of its own.
        let reused = SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buffer) => {
                encode(&mut buffer);
                true
            }
            Err(_) => false,
        });
        if !reused {
            encode(&mut Vec::new());
        }
        self
    }

    fn feed(&mut self, kind: Kind, name: Option<&str>, json: &[u8]) {
        self.hasher.write_u8(kind as u8);
        let name = name.unwrap_or_default();
        self.hasher.write_usize(name.len());
        self.hasher.write(name.as_bytes());
        self.hasher.write_usize(json.len());
        self.hasher.write(json);
    }

    fn finish(&self) -> Option<u128> {
        (!self.failed).then(|| self.hasher.finish128().as_u128())
    }
}

/// What a memoizer makes of a call's arguments.
#[derive(Clone)]
pub(crate) enum Keyed {
    /// Their key.
    Key(Arc<str>),
    /// No `cache_only_for` condition lets them through.
    Bypass,
    /// One of them does not encode (never remembered: the call has no
    /// identity).
    Unencodable(Arc<Error>),
}

/// How many identities each of a memoizer's [`Keys`] shards remembers.
const SHARD_CAPACITY: usize = 256;
/// Shards, so that callers of different keys seldom share a lock.
const SHARDS: usize = 16;

/// A copy a call was served (a local tier's, or a value a store keeps
/// decoded), kept with its arguments' key so that their next call serves
/// it with no other lookup, for as long as it is still its entry's: not
/// retired (its entry replaced, removed, evicted; its tier copy dropped
/// by a change report), not expired, and for a tier's copy not flushed
/// since. It holds the value weakly: a copy its tier or store let go of
/// is not kept alive by it.
#[derive(Clone)]
pub(crate) struct Handle {
    value: Weak<dyn Any + Send + Sync>,
    live: Arc<AtomicBool>,
    expires: Option<Instant>,
    /// For a local tier's copy: the tier's flush count when it was found.
    flushes: Option<u64>,
}

impl Handle {
    pub(crate) fn new(
        value: Weak<dyn Any + Send + Sync>,
        live: Arc<AtomicBool>,
        expires: Option<Instant>,
        flushes: Option<u64>,
    ) -> Self {
        Handle {
            value,
            live,
            expires,
            flushes,
        }
    }

    /// The copy, if it still stands; `flushes` is the tier's flush count
    /// now.
    pub(crate) fn copy(&self, flushes: Option<u64>) -> Option<Remembered> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        if self.flushes.is_some() && self.flushes != flushes {
            return None;
        }
        if self.expires.is_some_and(|at| Instant::now() >= at) {
            return None;
        }
        Some(Remembered {
            value: self.value.upgrade()?,
            local: self.flushes.is_some(),
        })
    }
}

/// What a memoizer keeps for one identity.
struct Slot {
    keyed: Keyed,
    copy: Option<Handle>,
}

type Shard = RwLock<HashMap<u128, Slot, BuildHasherDefault<Spread>>>;

/// The keys a memoizer built, by identity, with the copy each was last
/// served: at most `SHARDS * SHARD_CAPACITY` of them (a full shard
/// forgets all its keys before it learns one more), 4,096 keys, some
/// 600 KiB with keys of the reference's length.
pub(crate) struct Keys {
    shards: [Shard; SHARDS],
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            shards: std::array::from_fn(|_| RwLock::default()),
        }
    }
}

impl Keys {
    /// What tells this memoizer's [`Resolved`] from another's.
    pub(crate) fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    fn shard(&self, identity: u128) -> &Shard {
        // The identity is a uniform hash: its top bits pick the shard, its
        // low bits the bucket.
        &self.shards[(identity >> 124) as usize % SHARDS]
    }

    /// What is known of `identity`'s arguments, and the copy they were
    /// last served if it still stands (`flushes`: the local tier's flush
    /// count now).
    pub(crate) fn get(
        &self,
        identity: u128,
        flushes: Option<u64>,
    ) -> Option<(Keyed, Option<Remembered>)> {
        let shard = self
            .shard(identity)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = shard.get(&identity)?;
        let copy = slot.copy.as_ref().and_then(|handle| handle.copy(flushes));
        Some((slot.keyed.clone(), copy))
    }

    /// Remembers what `identity`'s arguments are.
    pub(crate) fn insert(&self, identity: u128, keyed: Keyed) {
        let mut shard = self
            .shard(identity)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&identity) {
            shard.clear();
        }
        shard.insert(identity, Slot { keyed, copy: None });
    }

    /// Remembers the copy `identity`'s arguments were served.
    pub(crate) fn remember(&self, identity: u128, copy: Handle) {
        let mut shard = self
            .shard(identity)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = shard.get_mut(&identity) {
            slot.copy = Some(copy);
        }
    }
}

/// The map's hash of an identity: its own low bits, already uniform.
#[derive(Default)]
struct Spread(u64);

impl Hasher for Spread {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy_identity(identify: impl Fn(&mut Identity)) -> Option<u128> {
        LazyArgs::new(identify, Args::new).identity()
    }

    #[test]
    fn the_same_arguments_have_the_same_identity_either_way() {
        let args = Args::new()
            .arg(&7)
            .named_arg("user", &"ada")
            .kwarg("page", &2);
        let lazy = lazy_identity(|id| {
            id.arg(&7).named_arg("user", &"ada").kwarg("page", &2);
        });
        assert_eq!(args.identity(), lazy);
        assert!(lazy.is_some());
    }

    #[test]
    fn arguments_that_concatenate_alike_have_different_identities() {
        let identities = [
            Args::new().arg(&"ab").arg(&"c").identity(),
            Args::new().arg(&"a").arg(&"bc").identity(),
            Args::new().arg(&"abc").identity(),
            Args::new().kwarg("a", &"bc").identity(),
            Args::new().kwarg("ab", &"c").identity(),
            Args::new().named_arg("a", &"bc").identity(),
            Args::new().arg(&"a").kwarg("b", &"c").identity(),
            Args::new().identity(),
        ];
        for (i, a) in identities.iter().enumerate() {
            for b in &identities[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn an_argument_that_does_not_encode_leaves_no_identity() {
        let bad: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        assert_eq!(Args::new().arg(&bad).identity(), None);
        assert_eq!(
            lazy_identity(|id| {
                id.arg(&1).arg(&bad);
            }),
            None
        );
    }

    #[test]
    fn a_full_shard_forgets_and_goes_on_learning() {
        let keys = Keys::default();
        // Identities whose top bits put them all in one shard.
        let ids: Vec<u128> = (0..=SHARD_CAPACITY as u128).collect();
        for &id in &ids {
            keys.insert(id, Keyed::Key(Arc::from(id.to_string())));
        }
        let last = *ids.last().unwrap();
        assert!(
            matches!(keys.get(last, None), Some((Keyed::Key(k), None)) if *k == *last.to_string())
        );
        assert!(keys.get(0, None).is_none());
    }
}
