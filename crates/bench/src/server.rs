//! The Redis server under test: our own `redis-server` on a free port, or
//! the one `REDIS_URL` names; and `redis-benchmark`'s figure for it.

use std::process::Command;

use memocache_testkit::RedisServer;
use serde::Serialize;

/// Where the benchmark sends its traffic.
pub struct Target {
    url: String,
    host: String,
    port: u16,
    password: Option<String>,
    /// Kept alive for the whole run; killed on drop.
    _own: Option<RedisServer>,
}

impl Target {
    /// `REDIS_URL` when it is set, else a fresh `redis-server` of our own.
    pub fn start() -> Target {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Target::from_url(url, None),
            _ => {
                let server = RedisServer::start();
                Target::from_url(server.url(), Some(server))
            }
        }
    }

    fn from_url(url: String, own: Option<RedisServer>) -> Target {
        let (host, port, password) = parse_url(&url);
        Target {
            url,
            host,
            port,
            password,
            _own: own,
        }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the server is ours (started by this run) or `REDIS_URL`'s.
    pub fn is_own(&self) -> bool {
        self._own.is_some()
    }

    /// Runs `redis-benchmark -t get -q` against the server with values of
    /// `data_size` bytes and `requests` requests, plain and pipelined
    /// (`-P 64`); `None` when it is not installed, fails, or the server
    /// speaks TLS.
    pub fn redis_benchmark(&self, data_size: usize, requests: u32) -> Option<ServerLimit> {
        if self.url.starts_with("rediss://") {
            return None;
        }
        let run = |pipeline: Option<u32>| {
            let mut command = Command::new("redis-benchmark");
            command
                .args(["-t", "get", "-q"])
                .args(["-h", &self.host])
                .args(["-p", &self.port.to_string()])
                .args(["-d", &data_size.to_string()])
                .args(["-n", &requests.to_string()]);
            if let Some(pipeline) = pipeline {
                command.args(["-P", &pipeline.to_string()]);
            }
            if let Some(password) = &self.password {
                command.args(["-a", password, "--no-auth-warning"]);
            }
            let output = command.output().ok()?;
            if !output.status.success() {
                eprintln!(
                    "redis-benchmark failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                return None;
            }
            parse_redis_benchmark(&String::from_utf8_lossy(&output.stdout))
        };
        Some(ServerLimit {
            command: format!(
                "redis-benchmark -t get -q -p {} -d {data_size} -n {requests}",
                self.port
            ),
            get_ops_per_sec: run(None)?,
            pipelined_get_ops_per_sec: run(Some(64)),
        })
    }
}

/// `redis-benchmark`'s GET figure: the server's own limit.
#[derive(Debug, Clone, Serialize)]
pub struct ServerLimit {
    /// The command line (without any password).
    pub command: String,
    /// GETs per second, 50 client connections.
    pub get_ops_per_sec: f64,
    /// The same with `-P 64` (64 requests in flight per connection).
    pub pipelined_get_ops_per_sec: Option<f64>,
}

/// Host, port and password of a `redis://[user:password@]host[:port][/db]`
/// URL.
fn parse_url(url: &str) -> (String, u16, Option<String>) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let (credentials, address) = match authority.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, authority),
    };
    let password = credentials
        .map(|c| c.split_once(':').map_or(c, |(_, password)| password))
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(6379)),
        None => (address, 6379),
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    (host.to_owned(), port, password)
}

/// The requests per second of the last `GET:` line of `redis-benchmark -q`
/// output (which rewrites progress lines with carriage returns).
fn parse_redis_benchmark(output: &str) -> Option<f64> {
    output
        .split(['\r', '\n'])
        .filter_map(|line| line.trim().strip_prefix("GET:"))
        .filter_map(|rest| rest.split_once("requests per second"))
        .filter_map(|(number, _)| number.trim().parse().ok())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmark_quiet_output_is_parsed() {
        let output = "GET: rps=120000.0 (overall: 118000.0) avg_msec=0.2\r\
                      GET: 123456.79 requests per second, p50=0.207 msec\n\n";
        assert_eq!(parse_redis_benchmark(output), Some(123_456.79));
        assert_eq!(parse_redis_benchmark("ERROR"), None);
    }

    #[test]
    fn urls_give_host_port_and_password() {
        assert_eq!(
            parse_url("redis://127.0.0.1:4242/0"),
            ("127.0.0.1".into(), 4242, None)
        );
        assert_eq!(
            parse_url("redis://app:s3cret@cache:6380"),
            ("cache".into(), 6380, Some("s3cret".into()))
        );
        assert_eq!(parse_url("redis://cache"), ("cache".into(), 6379, None));
    }
}
