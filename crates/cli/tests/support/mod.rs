//! Running the `memocache` binary, for the CLI's test files (each uses
//! what it needs of this).
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs `memocache` with `args` (and no `REDIS_URL` from the outside).
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memocache"))
        .env_remove("REDIS_URL")
        .args(args)
        .output()
        .expect("run memocache")
}

/// Runs `memocache` with `args`; its stdout, which must be a success.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "memocache {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("memocache printed UTF-8")
}

/// Runs `memocache` with `args`; its stderr, which must be a failure with
/// status 1 and nothing on stdout.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(1), "memocache {args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    String::from_utf8(out.stderr).expect("memocache printed UTF-8")
}
