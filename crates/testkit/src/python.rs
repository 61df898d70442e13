//! Python for the interop tests and the benchmark: the real reference,
//! `dtpyfw.redis.caching`, installed into a virtualenv ([`Reference`]),
//! and the machine's own `python3` with its standard library only
//! ([`cpython`]).
//!
//! The virtualenv lives at `$MEMOCACHE_PY_REFERENCE` if set, else at
//! `<target dir>/py-reference` (the place `tests/vectors/generate.py` uses
//! too), where the target dir is `$CARGO_TARGET_DIR` or the workspace's
//! `target/`. It is made once with `python3 -m venv` and `pip install
//! dtpyfw redis`, then reused by every later run. Within one process, one
//! thread installs while the others wait; across processes (two test
//! binaries at once), each installs into a directory of its own and
//! renames it into place, so a half-made virtualenv is never used and the
//! first complete one wins.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The packages the reference needs.
const PACKAGES: [&str; 2] = ["dtpyfw", "redis"];

/// Python run before every [`Reference::run`] script: the reference's
/// entry points, and `REDIS`, a dtpyfw `RedisInstance` for the server at
/// `$MEMOCACHE_TEST_REDIS_URL`.
const PRELUDE: &str = r#"
import datetime, decimal, json, math, os, sys, uuid, zlib
from dtpyfw.core.jsonable_encoder import jsonable_encoder
from dtpyfw.redis.caching import _cache_key_generator, cache_data, cache_function, cache_wrapper
from dtpyfw.redis.config import RedisConfig
from dtpyfw.redis.connection import RedisInstance

REDIS = RedisInstance(RedisConfig().set_redis_url(os.environ["MEMOCACHE_TEST_REDIS_URL"]))
"#;

/// An installed reference: the virtualenv's interpreter.
#[derive(Debug)]
pub struct Reference {
    python: PathBuf,
}

impl Reference {
    /// The reference, installed on first use.
    ///
    /// # Panics
    ///
    /// As [`install`](Self::install) fails.
    pub fn get() -> &'static Reference {
        Self::install()
            .unwrap_or_else(|message| panic!("cannot set up the Python reference: {message}"))
    }

    /// The reference, installed on first use (in this process, the first
    /// caller installs and the others wait for it).
    ///
    /// # Errors
    ///
    /// What to install when `python3` or its `venv` module is missing, or
    /// pip's output when the install fails.
    pub fn install() -> Result<&'static Reference, String> {
        static REFERENCE: OnceLock<Result<Reference, String>> = OnceLock::new();
        REFERENCE
            .get_or_init(install)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The virtualenv's interpreter, for scripts of one's own.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Runs `script` after the prelude (which imports the reference's entry
    /// points and connects `REDIS` to `redis_url`), with `input` on stdin;
    /// returns what it printed.
    ///
    /// # Panics
    ///
    /// With Python's stderr when the script fails.
    pub fn run(&self, redis_url: &str, script: &str, input: &str) -> String {
        let mut command = Command::new(&self.python);
        command
            .arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .env("MEMOCACHE_TEST_REDIS_URL", redis_url);
        run_script(command, input.as_bytes())
    }
}

/// Runs `script` with the machine's `python3` (standard library only),
/// feeding `input` on stdin; returns what it printed.
///
/// # Panics
///
/// When `python3` is not installed, or with Python's stderr when the
/// script fails.
pub fn cpython(script: &str, input: &[u8]) -> String {
    let mut command = Command::new("python3");
    command.args(["-c", script]);
    run_script(command, input)
}

/// Runs a Python `command` (UTF-8 I/O) with `input` on stdin; its stdout.
fn run_script(mut command: Command, input: &[u8]) -> String {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (apt-get install python3 to run this test): {e}")
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write the script's input");
    let out = child.wait_with_output().expect("wait for python");
    assert!(
        out.status.success(),
        "the Python script failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the script printed UTF-8")
}

/// The workspace's root: the nearest ancestor of this package with a
/// `Cargo.lock`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Where the virtualenv lives: `$MEMOCACHE_PY_REFERENCE`, else
/// `$CARGO_TARGET_DIR/py-reference`, else `<workspace>/target/py-reference`.
fn venv_dir() -> PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = set("MEMOCACHE_PY_REFERENCE") {
        return PathBuf::from(dir);
    }
    let root = workspace_root();
    let target = set("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir));
    target.join("py-reference")
}

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `python` imports the reference and its Redis client.
fn imports_reference(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import dtpyfw.redis.caching, dtpyfw.redis.connection, redis",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn install() -> Result<Reference, String> {
    let venv = venv_dir();
    if imports_reference(&python_in(&venv)) {
        return Ok(Reference {
            python: python_in(&venv),
        });
    }
    let parent = venv.parent().expect("the venv has a parent");
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;

    let started = Instant::now();
    let staging = parent.join(format!("py-reference.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => {
            return Err(
                "python3 is not installed: install it (apt-get install python3 \
                        python3-venv) to run the interop tests"
                    .into(),
            );
        }
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&staging)
        .output()
        .map_err(|e| format!("cannot run python3 -m venv: {e}"))?;
    if !made.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!(
            "`python3 -m venv` failed; install the venv module (apt-get install python3-venv): {}",
            describe(&made)
        ));
    }
    let pip = Command::new(python_in(&staging))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PACKAGES)
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !pip.status.success() || !imports_reference(&python_in(&staging)) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!(
            "`pip install {}` failed (PyPI must be reachable): {}",
            PACKAGES.join(" "),
            describe(&pip)
        ));
    }

    // Rename into place: the first complete virtualenv wins. A broken one
    // left at the final place (an interrupted generate.py run, say) is
    // moved aside first.
    let mut note = "";
    if std::fs::rename(&staging, &venv).is_err() {
        if imports_reference(&python_in(&venv)) {
            let _ = std::fs::remove_dir_all(&staging);
            note = " (another process finished first; using its copy)";
        } else {
            let stale = parent.join(format!("py-reference.stale-{}", std::process::id()));
            std::fs::rename(&venv, &stale)
                .and_then(|()| std::fs::rename(&staging, &venv))
                .map_err(|e| format!("cannot move the virtualenv into {}: {e}", venv.display()))?;
            let _ = std::fs::remove_dir_all(&stale);
        }
    }
    eprintln!(
        "installed the Python reference ({}) into {} in {:.1} s{note}",
        PACKAGES.join(", "),
        venv.display(),
        started.elapsed().as_secs_f64()
    );
    let python = python_in(&venv);
    if !imports_reference(&python) {
        return Err(format!(
            "{} does not import dtpyfw after the install",
            python.display()
        ));
    }
    Ok(Reference { python })
}
