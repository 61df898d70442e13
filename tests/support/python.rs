//! Running the machine's `python3` (standard library only) to check what we
//! write against CPython itself.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `script` with `python3`, feeding `input` on stdin; returns stdout.
/// Panics with Python's stderr if it fails.
pub fn run(script: &str, input: &[u8]) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run this test (apt-get install python3)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3 ran");
    assert!(
        out.status.success(),
        "python3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
