//! Misuse of `#[cache_wrapper]` fails to compile, with a message at the
//! offending token (expected output in tests/ui/*.stderr; regenerate with
//! `TRYBUILD=overwrite` and review the diff).

#[test]
fn misuse_is_a_compile_error_at_the_offending_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
