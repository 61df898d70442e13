//! The values every scenario caches: an order of ~1 KiB and one of ~64 KiB
//! of Python JSON, the same bytes for every subject.

use serde::{Deserialize, Serialize};

/// The order id stored in every value, whatever key it is cached under, so
/// that all keys of one size hold the same bytes.
pub const ORDER_ID: u64 = 918_273;

/// Which of the two benchmark values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// About 1 KiB of JSON text.
    Small,
    /// About 64 KiB of JSON text.
    Large,
}

impl Size {
    /// Both sizes, small first.
    pub const ALL: [Size; 2] = [Size::Small, Size::Large];

    /// The label used in keys, tables and `results.json`: `"1k"` or `"64k"`.
    pub fn label(self) -> &'static str {
        match self {
            Size::Small => "1k",
            Size::Large => "64k",
        }
    }

    /// The length of JSON text the value is grown to (at least).
    fn target_json_len(self) -> usize {
        match self {
            Size::Small => 1024,
            Size::Large => 64 * 1024,
        }
    }
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stock-keeping unit.
    pub sku: String,
    /// Product name.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// Price of one, in the order's currency.
    pub unit_price: f64,
    /// Whether a discount applied.
    pub discounted: bool,
}

/// The cached result: an order as a service would return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Always [`ORDER_ID`].
    pub id: u64,
    /// The customer.
    pub user_id: u64,
    /// Order status.
    pub status: String,
    /// ISO 4217 code.
    pub currency: String,
    /// When it was placed (ISO 8601 text, as Python services send dates).
    pub created_at: String,
    /// Its lines; their number sets the value's size.
    pub items: Vec<Item>,
    /// Sum of the lines.
    pub total: f64,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// A customer note.
    pub note: Option<String>,
}

const WORDS: [&str; 16] = [
    "oak", "linen", "copper", "desk", "lamp", "shelf", "walnut", "cotton", "steel", "chair",
    "frame", "glass", "wool", "mat", "basket", "clock",
];

impl Order {
    /// The value of `size`: deterministic, varied enough that compression
    /// does not make it trivial, grown line by line until its Python JSON
    /// text reaches the size's target.
    pub fn new(size: Size) -> Order {
        let mut order = Order {
            id: ORDER_ID,
            user_id: 4_815_162_342,
            status: "shipped".to_owned(),
            currency: "EUR".to_owned(),
            created_at: "2026-11-27T15:04:05.123456+00:00".to_owned(),
            items: Vec::new(),
            total: 0.0,
            tags: vec![
                "priority".to_owned(),
                "gift".to_owned(),
                "eu-west".to_owned(),
            ],
            note: Some("Leave at the door — ring twice".to_owned()),
        };
        // A small linear congruential generator: the same value every run.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let mut cents_total: u64 = 0;
        while json_len(&order) < size.target_json_len() {
            let cents = 99 + (next() % 40_000) as u64;
            let quantity = 1 + (next() % 5) as u32;
            cents_total += cents * u64::from(quantity);
            order.items.push(Item {
                sku: format!("SKU-{:06}-{}", next() % 1_000_000, WORDS[next() % 16]),
                name: format!(
                    "{} {} {}",
                    WORDS[next() % 16],
                    WORDS[next() % 16],
                    WORDS[next() % 16]
                ),
                quantity,
                unit_price: cents as f64 / 100.0,
                discounted: next() % 3 == 0,
            });
        }
        order.total = cents_total as f64 / 100.0;
        order
    }
}

/// The length of `order`'s Python JSON text.
pub fn json_len(order: &Order) -> usize {
    python_json(order).len()
}

/// `order` as Python's `json.dumps` writes it (memocache's JSON format).
pub fn python_json(order: &Order) -> Vec<u8> {
    use memocache::codec::Codec as _;
    memocache::codec::JsonPlain::default()
        .encode(order)
        .expect("an order always encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_reach_their_sizes_without_overshooting_much() {
        for size in Size::ALL {
            let len = json_len(&Order::new(size));
            let target = size.target_json_len();
            assert!(len >= target && len < target + 256, "{size:?}: {len} bytes");
        }
    }

    #[test]
    fn values_are_deterministic() {
        assert_eq!(Order::new(Size::Small), Order::new(Size::Small));
    }
}
