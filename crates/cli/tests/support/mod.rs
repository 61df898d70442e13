//! Running the `memocache` binary, for the CLI's test files (each uses
//! what it needs of this).
#![allow(dead_code)]

use std::process::{Command, Output};

/// The variables the command reads settings from.
const SETTINGS: [&str; 7] = [
    "REDIS_URL",
    "REDIS_SENTINEL_URLS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_USERNAME",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "REDIS_SSL",
];

/// Runs `memocache` with `args` (and none of its settings from the
/// outside's environment).
pub fn run(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_memocache"));
    for name in SETTINGS {
        command.env_remove(name);
    }
    command.args(args).output().expect("run memocache")
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
