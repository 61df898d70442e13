//! `cache_only_for`: conditions that decide whether a call is cached at all.

use std::borrow::Cow;

use serde::Serialize;

use crate::Result;
use crate::key::Args;
use crate::python;

/// One `cache_only_for` condition of the reference: `{"kwarg": name,
/// "operator": "in", "value": [...]}`.
///
/// It matches when the argument called `kwarg` equals one of the values.
/// Values are compared by their Python JSON text, so `1`, `1.0` and `true`
/// are different values (Python would call them equal). An argument that
/// was not passed compares as `None`, as in the reference.
#[derive(Debug, Clone)]
pub struct Condition {
    kwarg: Cow<'static, str>,
    values: Vec<Vec<u8>>,
}

impl Condition {
    /// `kwarg in values`.
    ///
    /// # Panics
    ///
    /// If a value cannot be encoded as JSON (a map with non-scalar keys, or a
    /// `Serialize` impl that fails): a configuration mistake, reported at
    /// start-up. Use [`Condition::try_is_in`] to handle it instead.
    pub fn is_in<T: Serialize>(
        kwarg: impl Into<Cow<'static, str>>,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        match Self::try_is_in(kwarg, values) {
            Ok(c) => c,
            Err(e) => panic!("cache_only_for condition value: {e}"),
        }
    }

    /// `kwarg in values`, or an error if a value cannot be encoded.
    pub fn try_is_in<T: Serialize>(
        kwarg: impl Into<Cow<'static, str>>,
        values: impl IntoIterator<Item = T>,
    ) -> Result<Self> {
        let values = values
            .into_iter()
            .map(|v| python::to_vec(&v))
            .collect::<Result<_, _>>()?;
        Ok(Condition {
            kwarg: kwarg.into(),
            values,
        })
    }

    /// The argument name this condition looks at.
    pub fn kwarg(&self) -> &str {
        &self.kwarg
    }

    /// Whether the call's argument matches.
    pub fn matches(&self, args: &Args) -> bool {
        let actual = args.kwarg_json(&self.kwarg).unwrap_or(b"null");
        self.values.iter().any(|v| v.as_slice() == actual)
    }
}

/// The reference's rule: no conditions cache every call; otherwise a call
/// is cached when any condition matches (so an empty list caches nothing).
pub fn should_cache(cache_only_for: Option<&[Condition]>, args: &Args) -> bool {
    cache_only_for.is_none_or(|conditions| conditions.iter().any(|c| c.matches(args)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_condition_matching_is_enough() {
        let conditions = [
            Condition::is_in("status", ["active", "pending"]),
            Condition::is_in("limit", [10]),
        ];
        let args =
            |status: &str, limit: i32| Args::new().kwarg("status", &status).kwarg("limit", &limit);
        assert!(should_cache(Some(&conditions), &args("pending", 1)));
        assert!(should_cache(Some(&conditions), &args("closed", 10)));
        assert!(!should_cache(Some(&conditions), &args("closed", 1)));
        assert!(should_cache(None, &args("closed", 1)));
        assert!(!should_cache(Some(&[]), &args("active", 10)));
    }

    #[test]
    fn a_missing_argument_compares_as_none() {
        let c = Condition::is_in("flag", [None::<bool>]);
        assert!(c.matches(&Args::new()));
        assert!(!c.matches(&Args::new().kwarg("flag", &false)));
    }

    #[test]
    fn named_positional_arguments_are_visible() {
        let c = Condition::is_in("user_id", [1]);
        assert!(c.matches(&Args::new().named_arg("user_id", &1)));
        assert!(!c.matches(&Args::new().arg(&1)));
    }
}
