//! `memocache`: compute cache keys and manage entries from the shell.
//!
//! Global options come before the subcommand:
//!
//! ```text
//! memocache [--url URL]... [--cluster] [--ca-cert FILE] [--codec CODEC] [--hasher HASHER] <COMMAND>
//! ```
//!
//! With `--cluster`, the URLs are seed nodes of a Redis Cluster: single
//! keys are routed by slot, and `keys`, `clear` and `stats` go over every
//! primary.

mod call;
mod codec;
mod connection;
mod entry;
mod namespace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use memocache_core::{Blake3, KeyHasher, Sha256};

use crate::codec::CodecName;
use crate::connection::{DataNodes, Redis, Target};
use crate::namespace::Namespace;

/// Compute, inspect and manage memocache / dtpyfw cache entries.
///
/// Entries written with the defaults (--codec json-zlib, --hasher sha256)
/// are shared with Python services using dtpyfw.redis.caching.
#[derive(Parser)]
#[command(name = "memocache", version, about, long_about)]
struct Cli {
    /// The Redis server: redis://[user:password@]host:port/db, or rediss://
    /// for TLS (percent-encode special characters in the password).
    ///
    /// With --cluster, seed nodes of the cluster (one is enough; several
    /// may be given, repeated or comma-separated), without /db; their
    /// credentials and TLS apply to every node.
    #[arg(
        long,
        env = "REDIS_URL",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "URL"
    )]
    url: Vec<String>,
    /// The --url nodes belong to a Redis Cluster: keys are routed by slot,
    /// and keys, clear and stats go over every primary.
    #[arg(long)]
    cluster: bool,
    /// Find the primary through Redis Sentinel, instead of --url: a
    /// sentinel, redis://[user:password@]host:port (rediss:// for TLS),
    /// with the sentinels' own credentials; repeated or comma-separated.
    /// Needs --master. The data nodes' credentials, database and TLS come
    /// from REDIS_USERNAME, REDIS_PASSWORD, REDIS_DB and REDIS_SSL.
    #[arg(
        long,
        env = "REDIS_SENTINEL_URLS",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "URL"
    )]
    sentinel: Vec<String>,
    /// With --sentinel: the master's name, as the sentinels monitor it.
    #[arg(long, env = "REDIS_SENTINEL_MASTER", value_name = "NAME")]
    master: Option<String>,
    /// With --sentinel: the data nodes' ACL user.
    #[arg(long, env = "REDIS_USERNAME", value_name = "USER")]
    username: Option<String>,
    /// With --sentinel: the data nodes' password (prefer the environment
    /// variable: a command line is visible to other users).
    #[arg(long, env = "REDIS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// With --sentinel: the data nodes' database.
    #[arg(long, env = "REDIS_DB", default_value_t = 0)]
    db: u32,
    /// With --sentinel: the data nodes speak TLS.
    #[arg(long, env = "REDIS_SSL")]
    ssl: bool,
    /// For rediss:// URLs: trust the certificate authority in this PEM file
    /// instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// How values are stored.
    #[arg(long, value_enum, default_value_t = CodecName::JsonZlib)]
    codec: CodecName,
    /// How key arguments are hashed.
    #[arg(long, value_enum, default_value_t = Hasher::Sha256)]
    hasher: Hasher,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the cache key of a call, as the Python reference computes it
    /// (needs no Redis).
    ///
    /// Example: the key of `get_user(123, status="active")` cached under
    /// namespace `user`:
    ///
    ///     memocache key --namespace user --args '[123]' --kwargs '{"status": "active"}'
    Key(KeyArgs),
    /// Print the value stored at KEY as Python-style JSON.
    ///
    /// Exits with status 1, saying why, when the key does not exist or its
    /// value does not decode with --codec.
    Get {
        /// The entry's key (see `memocache key`).
        key: String,
    },
    /// Store a JSON value at KEY with --codec.
    ///
    /// Example: memocache put "$(memocache key -n user --args '[1]')" '{"name": "Ada"}' --expire 3600
    Put {
        /// The entry's key.
        key: String,
        /// The value, as JSON (integers of any size, NaN and Infinity
        /// allowed; object keys keep their order).
        json: String,
        /// Seconds until the entry expires; 0 or absent: never.
        #[arg(long, value_name = "SECS")]
        expire: Option<u64>,
    },
    /// Delete keys (in a cluster, wherever their slots are); prints how
    /// many existed.
    Del {
        /// The keys to delete.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Print the seconds KEY has left, or "no expiry".
    Ttl {
        /// The entry's key.
        key: String,
    },
    /// List the keys of a namespace (SCAN, on every primary of a cluster;
    /// never KEYS).
    Keys(NamespaceArgs),
    /// Delete every key of a namespace (SCAN and UNLINK in batches, on
    /// every primary of a cluster); prints how many were deleted.
    Clear(NamespaceArgs),
    /// Count a namespace's keys, their memory use (MEMORY USAGE) and their
    /// expiries (over every primary of a cluster).
    Stats(NamespaceArgs),
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
    /// The key hasher (overrides the global --hasher).
    #[arg(long, value_enum)]
    hasher: Option<Hasher>,
}

/// Which keys `keys`, `clear` and `stats` work on.
#[derive(clap::Args)]
struct NamespaceArgs {
    /// The namespace NS, as given to the memoizer or the Python decorator.
    ///
    /// Its entries are NS itself (calls without arguments) and NS:<hash>
    /// or NS:<hash>:<hash>; entries of nested namespaces (NS:sub:...) and
    /// other keys under NS: are left out unless --prefix is given.
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: String,
    /// Take every key starting with `NS:`, nested namespaces and non-cache
    /// keys included.
    #[arg(long)]
    prefix: bool,
}

impl NamespaceArgs {
    fn get(&self) -> Result<Namespace, String> {
        Namespace::new(&self.namespace, self.prefix)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Hasher {
    /// SHA-256, the reference's.
    Sha256,
    /// BLAKE3, for caches no Python service shares.
    Blake3,
}

impl Hasher {
    fn get(self) -> &'static dyn KeyHasher {
        match self {
            Hasher::Sha256 => &Sha256,
            Hasher::Blake3 => &Blake3,
        }
    }
}

/// Runs the command; the line to print on success, if any.
fn run(cli: &Cli) -> Result<Option<String>, String> {
    if let Command::Key(k) = &cli.command {
        let hasher = k.hasher.unwrap_or(cli.hasher).get();
        return call::key(
            &k.namespace,
            k.args.as_deref(),
            k.kwargs.as_deref(),
            &k.skip,
            hasher,
        )
        .map(Some);
    }
    // Validate the namespace before connecting.
    let namespace = match &cli.command {
        Command::Keys(ns) | Command::Clear(ns) | Command::Stats(ns) => Some(ns.get()?),
        _ => None,
    };
    let target = if cli.sentinel.is_empty() && cli.master.is_none() {
        Target::Urls {
            urls: &cli.url,
            cluster: cli.cluster,
        }
    } else {
        Target::Sentinel {
            sentinels: &cli.sentinel,
            master: cli.master.as_deref(),
            urls: &cli.url,
            data: DataNodes {
                username: cli.username.clone(),
                password: cli.password.clone(),
                db: cli.db,
                ssl: cli.ssl,
            },
        }
    };
    let redis = Redis::connect(target, cli.ca_cert.as_deref())?;
    command(cli, &redis, namespace).map_err(|message| redis.explain(message))
}

/// Runs a command that talks to Redis.
fn command(
    cli: &Cli,
    redis: &Redis,
    namespace: Option<Namespace>,
) -> Result<Option<String>, String> {
    let line = match (&cli.command, namespace) {
        (Command::Get { key }, _) => entry::get(redis, cli.codec, key)?,
        (Command::Put { key, json, expire }, _) => {
            entry::put(redis, cli.codec, key, json, *expire)?;
            return Ok(None);
        }
        (Command::Del { keys }, _) => entry::del(redis, keys)?.to_string(),
        (Command::Ttl { key }, _) => entry::ttl(redis, key)?,
        (Command::Keys(_), Some(ns)) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let mut write_error = None;
            namespace::keys(redis, &ns, |key| {
                if write_error.is_none() {
                    write_error = writeln!(out, "{key}").err();
                }
            })?;
            return match write_error {
                Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(format!("cannot write the keys: {e}"))
                }
                _ => Ok(None),
            };
        }
        (Command::Clear(_), Some(ns)) => namespace::clear(redis, &ns)?.to_string(),
        (Command::Stats(_), Some(ns)) => namespace::stats(redis, &ns)?.report(),
        _ => unreachable!("every command is handled"),
    };
    Ok(Some(line))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(line) => {
            if let Some(line) = line {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("memocache: {message}");
            ExitCode::FAILURE
        }
    }
}
