//! `memocache key`: the cache key of a call, from its arguments as JSON.

use memocache_core::python::{self, PyValue};
use memocache_core::{Args, KeyHasher, cache_key};

/// Reads a call's arguments: `args` a JSON array of positional arguments,
/// `kwargs` a JSON object of keyword arguments (in the order written), both
/// read exactly as Python would (integers of any size, `NaN`).
pub fn call_args(args: Option<&str>, kwargs: Option<&str>) -> Result<Args, String> {
    let mut call = Args::new();
    if let Some(text) = args {
        match python::parse(text.as_bytes()) {
            Ok(PyValue::List(items)) => {
                for item in &items {
                    call.push_arg(None::<String>, item);
                }
            }
            Ok(_) => return Err("--args must be a JSON array, e.g. '[123, \"a\"]'".into()),
            Err(e) => return Err(format!("--args is not valid JSON: {e}")),
        }
    }
    if let Some(text) = kwargs {
        match python::parse(text.as_bytes()) {
            Ok(PyValue::Dict(entries)) => {
                for (name, value) in entries {
                    call.push_kwarg(name, &value);
                }
            }
            Ok(_) => {
                return Err(
                    "--kwargs must be a JSON object, e.g. '{\"status\": \"active\"}'".into(),
                );
            }
            Err(e) => return Err(format!("--kwargs is not valid JSON: {e}")),
        }
    }
    Ok(call)
}

/// The key of the call in `namespace`, without the keyword arguments named
/// in `skip`.
pub fn key(
    namespace: &str,
    args: Option<&str>,
    kwargs: Option<&str>,
    skip: &[String],
    hasher: &dyn KeyHasher,
) -> Result<String, String> {
    let call = call_args(args, kwargs)?;
    cache_key(namespace, &call, skip, hasher).map_err(|e| e.report().to_string())
}
