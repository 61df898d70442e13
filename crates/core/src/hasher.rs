//! Key hashers: the digest that stands for the arguments in a cache key.

/// Turns the JSON text of a call's arguments into the hex digest used in its
/// cache key.
pub trait KeyHasher: Send + Sync + 'static {
    /// A short name for logs and the CLI, e.g. `"sha256"`.
    fn name(&self) -> &'static str;

    /// Appends the lower-case hex digest of `data` to `out`.
    fn write_hex_digest(&self, data: &[u8], out: &mut String);
}

/// SHA-256, the reference's hash: keys shared with Python services need it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256;

impl KeyHasher for Sha256 {
    fn name(&self) -> &'static str {
        "sha256"
    }

    fn write_hex_digest(&self, data: &[u8], out: &mut String) {
        use sha2::Digest as _;
        write_hex(&sha2::Sha256::digest(data), out);
    }
}

/// BLAKE3, for caches that no Python service reads. Faster than SHA-256 on
/// CPUs without SHA extensions; with them (SHA-NI), about as fast for
/// typical arguments (see BENCHMARKS.md).
#[cfg(feature = "blake3")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Blake3;

#[cfg(feature = "blake3")]
impl KeyHasher for Blake3 {
    fn name(&self) -> &'static str {
        "blake3"
    }

    fn write_hex_digest(&self, data: &[u8], out: &mut String) {
        write_hex(blake3::hash(data).as_bytes(), out);
    }
}

/// Appends `bytes` in lower-case hex, a digest's worth at a time (every
/// call builds a key, so this is on every call's path).
fn write_hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, b) in text.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
        let hex = &text[..2 * chunk.len()];
        out.push_str(std::str::from_utf8(hex).expect("hex digits are ASCII"));
    }
}

impl<H: KeyHasher + ?Sized> KeyHasher for Box<H> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn write_hex_digest(&self, data: &[u8], out: &mut String) {
        (**self).write_hex_digest(data, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_known_digest_of_abc() {
        let mut out = String::new();
        Sha256.write_hex_digest(b"abc", &mut out);
        assert_eq!(
            out,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[cfg(feature = "blake3")]
    #[test]
    fn blake3_matches_the_known_digest_of_abc() {
        let mut out = String::new();
        Blake3.write_hex_digest(b"abc", &mut out);
        assert_eq!(
            out,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }
}
