//! Cross-process locks on Redis, the same for both clients: where the lock
//! of an entry lives, and the scripts that take, extend and release it.
//!
//! The lock of the entry at `key` is a plain string key holding its
//! holder's token, with the lease as its expiry, so a holder that dies
//! blocks nobody past its lease. It lives at `key|lock{tag}`
//! ([`key`](fn@key)), where the hash tag puts it in the entry's cluster slot;
//! it starts with the entry's key, so a Redis ACL pattern that covers the
//! entry's namespace covers it, `clear_namespace` removes it with the
//! entries ([`KeyMatch::Namespace`](memocache_core::KeyMatch::Namespace)
//! matches it), and the reference never reads it. Each action is one
//! `EVAL` of a script ([`script`]) on that key: extending and releasing
//! compare the token first, so a holder never extends or deletes another
//! holder's lock, and taking a lock the token already holds answers that
//! it holds it (so a retried request is harmless).

use std::sync::OnceLock;

use memocache_core::{LOCK_SUFFIX, LockAction, LockRequest, expire_millis};

/// Takes the lock if it is free, or answers 1 if the token holds it
/// already: `KEYS[1]` the lock, `ARGV[1]` the token, `ARGV[2]` the lease in
/// milliseconds.
const ACQUIRE: &str = "\
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1";

/// Gives the lock its lease again if the token holds it: the arguments of
/// [`ACQUIRE`].
const EXTEND: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Deletes the lock if the token holds it: `KEYS[1]` the lock, `ARGV[1]`
/// the token.
const RELEASE: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// One lock action as Redis runs it: `EVAL body 1 key args..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The Lua script.
    pub body: &'static str,
    /// The lock's key, the script's only key (`KEYS[1]`).
    pub key: String,
    /// The script's arguments (`ARGV`): the token, and the lease in
    /// milliseconds when it sets one.
    pub args: Vec<String>,
}

/// The script that does `request` to the lock of the entry at `entry`.
/// Its integer reply, read with [`held`], answers [`Store::lock`](memocache_core::Store::lock).
pub fn script(entry: &str, request: &LockRequest<'_>) -> Script {
    let token = request.token.to_owned();
    let (body, args) = match request.action {
        LockAction::Acquire(lease) => (ACQUIRE, vec![token, expire_millis(lease).to_string()]),
        LockAction::Extend(lease) => (EXTEND, vec![token, expire_millis(lease).to_string()]),
        LockAction::Release => (RELEASE, vec![token]),
    };
    Script {
        body,
        key: key(entry),
        args,
    }
}

/// Whether a [`script`]'s reply says the token holds (or, for a release,
/// held) the lock.
pub fn held(reply: i64) -> bool {
    reply == 1
}

/// The key of the lock of the entry at `entry`: in `entry`'s cluster slot,
/// starting with `entry` and then [`LOCK_SUFFIX`]. An entry with a hash tag
/// of its own (`{...}`) keeps it: its lock is `entry|lock`. Any other gets
/// `entry|lock{n}`, `n` the smallest number whose hash tag falls in the
/// entry's slot.
pub fn key(entry: &str) -> String {
    if hash_tag(entry.as_bytes()).is_some() {
        return format!("{entry}{LOCK_SUFFIX}");
    }
    let slot = slot(entry.as_bytes());
    if !entry.contains('{') {
        return format!("{entry}{LOCK_SUFFIX}{{{}}}", tags()[usize::from(slot)]);
    }
    // An entry with a `{` that opens no hash tag: the tag a lock key gets
    // would not be the one Redis reads, so look for a whole key in the
    // slot (as rare as such namespaces; about 16,384 tries).
    (0u32..)
        .map(|n| format!("{entry}{LOCK_SUFFIX}{{{n}}}"))
        .find(|candidate| slot_of(candidate.as_bytes()) == slot)
        .expect("every slot is reached")
}

/// The number of cluster slots.
const SLOTS: u16 = 16_384;

/// For each cluster slot, the smallest number whose decimal text hashes to
/// it: made once (about 200,000 CRCs).
fn tags() -> &'static [u32] {
    static TAGS: OnceLock<Vec<u32>> = OnceLock::new();
    TAGS.get_or_init(|| {
        let mut tags = vec![u32::MAX; usize::from(SLOTS)];
        let mut left = tags.len();
        for n in 0u32.. {
            let tag = &mut tags[usize::from(slot(n.to_string().as_bytes()))];
            if *tag == u32::MAX {
                *tag = n;
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
        tags
    })
}

/// The cluster slot of `key`, as Redis computes it: of its hash tag if it
/// has one, else of the whole key.
pub fn slot_of(key: &[u8]) -> u16 {
    slot(hash_tag(key).unwrap_or(key))
}

/// The text between `key`'s first `{` and the first `}` after it, when
/// that is not empty.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

/// The slot of `bytes` taken whole: CRC16 (XMODEM) modulo 16,384.
fn slot(bytes: &[u8]) -> u16 {
    crc16(bytes) % SLOTS
}

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis
/// Cluster hashes keys.
fn crc16(bytes: &[u8]) -> u16 {
    const TABLE: [u16; 256] = {
        let mut table = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = (i as u16) << 8;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use memocache_core::KeyMatch;

    use super::*;

    #[test]
    fn slots_are_redis_cluster_s() {
        // The CRC16 check value, and slots `CLUSTER KEYSLOT` answers.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"somekey"), 11058);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn a_lock_is_in_its_entry_s_slot_and_its_namespace() {
        let digest = "0123456789abcdef".repeat(4);
        for namespace in ["ns", "a:b", "{tenant}", "odd{brace", "empty{}tag", "x}y"] {
            let entry = format!("{namespace}:{digest}");
            let lock = key(&entry);
            assert!(lock.starts_with(&format!("{entry}{LOCK_SUFFIX}")), "{lock}");
            assert_eq!(
                slot_of(lock.as_bytes()),
                slot_of(entry.as_bytes()),
                "{lock} is not in {entry}'s slot"
            );
            assert!(
                KeyMatch::Namespace(namespace.to_owned()).matches(&lock),
                "clear_namespace would leave {lock}"
            );
        }
    }

    #[test]
    fn every_slot_has_a_tag() {
        let tags = tags();
        for (slot, tag) in tags.iter().enumerate() {
            assert_eq!(
                usize::from(slot_of(tag.to_string().as_bytes())),
                slot,
                "tag {tag}"
            );
        }
    }

    #[test]
    fn scripts_carry_the_token_and_the_lease() {
        let acquire = LockRequest::new("t1", LockAction::Acquire(Duration::from_millis(1500)));
        let script = script("ns:k", &acquire);
        assert_eq!(script.body, ACQUIRE);
        assert_eq!(script.args, ["t1", "1500"]);
        assert_eq!(script.key, key("ns:k"));
        let release = LockRequest::new("t1", LockAction::Release);
        assert_eq!(super::script("ns:k", &release).args, ["t1"]);
        assert!(held(1) && !held(0));
    }
}
