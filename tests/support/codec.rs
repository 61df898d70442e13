//! The reference's codec, counting its decodes: what shows whether a hit
//! decoded.

use std::sync::atomic::{AtomicUsize, Ordering};

use memocache::Result;
use memocache::codec::{Codec, JsonZlib};

/// `JsonZlib`, counting its decodes.
#[derive(Default)]
pub struct CountingCodec {
    /// Decodes so far.
    pub decodes: AtomicUsize,
}

impl Codec for CountingCodec {
    fn name(&self) -> String {
        "json+zlib, counted".to_owned()
    }

    fn encode<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        JsonZlib::default().encode(value)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        self.decodes.fetch_add(1, Ordering::SeqCst);
        JsonZlib::default().decode(bytes)
    }
}
