//! Running the machine's `python3` (standard library only) to check what we
//! write against CPython itself.

/// Runs `script` with `python3`, feeding `input` on stdin; returns stdout.
/// Panics with Python's stderr if it fails.
pub fn run(script: &str, input: &[u8]) -> String {
    memocache_testkit::python::cpython(script, input)
}
