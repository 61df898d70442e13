//! `memocache`: compute cache keys and manage entries from the shell.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use memocache_core::pyjson::{self, PyValue};
use memocache_core::{Args, Blake3, KeyHasher, Sha256, cache_key};

/// Compute, inspect and manage memocache / dtpyfw cache entries.
#[derive(Parser)]
#[command(name = "memocache", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the cache key of a call, as the Python reference computes it.
    ///
    /// Example: the key of `get_user(123, status="active")` cached under
    /// namespace `user`:
    ///
    ///     memocache key --namespace user --args '[123]' --kwargs '{"status": "active"}'
    Key(KeyArgs),
}

#[derive(clap::Args)]
struct KeyArgs {
    /// The namespace (key prefix).
    #[arg(long, short = 'n', default_value = "")]
    namespace: String,
    /// Positional arguments, as a JSON array.
    #[arg(long, value_name = "JSON_ARRAY")]
    args: Option<String>,
    /// Keyword arguments, as a JSON object; keys keep their order.
    #[arg(long, value_name = "JSON_OBJECT")]
    kwargs: Option<String>,
    /// A keyword argument left out of the key (`skip_cache_keys`); repeat
    /// for several.
    #[arg(long = "skip", value_name = "NAME")]
    skip: Vec<String>,
    /// The key hasher.
    #[arg(long, value_enum, default_value_t = Hasher::Sha256)]
    hasher: Hasher,
}

#[derive(Clone, Copy, ValueEnum)]
enum Hasher {
    /// SHA-256, the reference's.
    Sha256,
    /// BLAKE3, for caches no Python service shares.
    Blake3,
}

impl Hasher {
    fn get(self) -> Box<dyn KeyHasher> {
        match self {
            Hasher::Sha256 => Box::new(Sha256),
            Hasher::Blake3 => Box::new(Blake3),
        }
    }
}

fn call_args(args: Option<&str>, kwargs: Option<&str>) -> Result<Args, String> {
    let mut call = Args::new();
    if let Some(text) = args {
        match pyjson::parse(text.as_bytes()) {
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
        match pyjson::parse(text.as_bytes()) {
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

fn key(k: &KeyArgs) -> Result<String, String> {
    let call = call_args(k.args.as_deref(), k.kwargs.as_deref())?;
    cache_key(&k.namespace, &call, &k.skip, &*k.hasher.get()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Key(k) => key(k),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("memocache: {message}");
            ExitCode::FAILURE
        }
    }
}
