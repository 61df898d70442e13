//! A small deterministic generator (xorshift64*) for the randomized tests:
//! each failure message carries the seed, so a failure reproduces.

/// xorshift64* over one `u64` of state.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// A generator seeded from the clock, so each run checks new values,
    /// and its seed.
    pub fn seeded() -> (Self, u64) {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        (Rng(seed), seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True once in `one_in` times.
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    /// Up to 11 random code points from every plane (no surrogates).
    pub fn string(&mut self) -> String {
        let len = self.below(12);
        (0..len)
            .map(|_| {
                let c = match self.below(5) {
                    0 => self.below(0x80) as u32,
                    1 => 0x80 + self.below(0x780) as u32,
                    2 => 0x800 + self.below(0xd000) as u32,
                    3 => 0xe000 + self.below(0x2000) as u32,
                    _ => 0x1_0000 + self.below(0x10_0000) as u32,
                };
                char::from_u32(c).unwrap_or('\u{fffd}')
            })
            .collect()
    }

    /// A float: an edge case, a short decimal, a ratio, a scaled integer,
    /// or random bits (every magnitude, subnormals and NaNs included).
    pub fn float(&mut self) -> f64 {
        const EDGES: [f64; 12] = [
            1e16,
            1e-5,
            -0.0,
            0.0,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.1,
            1e15,
            9_999_999_999_999_998.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        match self.below(6) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize],
            1 => (self.below(2_000_001) as f64 - 1e6) / 1024.0,
            2 => self.below(1_000_000) as f64 / [1.0, 10.0, 100.0, 1e6][self.below(4) as usize],
            3 => (self.next() as f64) / (self.next() as f64 + 1.0),
            4 => f64::from(self.below(1 << 20) as u32) * 10f64.powi(self.below(40) as i32 - 20),
            _ => f64::from_bits(self.next()),
        }
    }
}
