//! Settings from the environment ([`RedisConfig::from_env`]), and where
//! each setting came from ([`Setting`], [`Origin`]): its variable or its
//! builder method, which errors about it name.

use super::RedisConfig;

/// A setting given by a variable (to [`RedisConfig::from_env`]) or by a
/// builder method, so that an error about it can name where it came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Setting {
    Url,
    Cluster,
    Sentinels,
    SentinelMaster,
    Host,
    Port,
    Db,
    Ssl,
    Username,
    Password,
}

impl Setting {
    /// The settings that name the server: with none of them set,
    /// [`RedisConfig::from_env`] falls back to `127.0.0.1:6379`.
    const SERVER: [Setting; 5] = [
        Setting::Url,
        Setting::Cluster,
        Setting::Sentinels,
        Setting::Host,
        Setting::Port,
    ];

    /// The variable [`RedisConfig::from_env`] reads it from.
    pub(super) fn variable(self) -> &'static str {
        match self {
            Setting::Url => "REDIS_URL",
            Setting::Cluster => "REDIS_CLUSTER_URLS",
            Setting::Sentinels => "REDIS_SENTINEL_URLS",
            Setting::SentinelMaster => "REDIS_SENTINEL_MASTER",
            Setting::Host => "REDIS_HOST",
            Setting::Port => "REDIS_PORT",
            Setting::Db => "REDIS_DB",
            Setting::Ssl => "REDIS_SSL",
            Setting::Username => "REDIS_USERNAME",
            Setting::Password => "REDIS_PASSWORD",
        }
    }

    /// The builder method that sets it.
    fn method(self) -> &'static str {
        match self {
            Setting::Url => "url(...)",
            Setting::Cluster => "cluster(...)",
            Setting::Sentinels | Setting::SentinelMaster => "sentinel(...)",
            Setting::Host => "host(...)",
            Setting::Port => "port(...)",
            Setting::Db => "db(...)",
            Setting::Ssl => "ssl(true)",
            Setting::Username => "username(...)",
            Setting::Password => "password(...)",
        }
    }
}

/// Where a setting came from, as errors name it.
#[derive(Clone, Copy)]
pub(super) struct Origin {
    pub(super) setting: Setting,
    /// Read from its variable, rather than set by its builder method.
    pub(super) variable: bool,
}

impl Origin {
    /// The variable or the builder method: `REDIS_PORT`, `port(...)`.
    pub(super) fn name(self) -> &'static str {
        self.like(self.setting)
    }

    /// `other` named as this setting is: its variable if this one came
    /// from the environment, else its builder method (for the fix an error
    /// suggests).
    pub(super) fn like(self, other: Setting) -> &'static str {
        if self.variable {
            other.variable()
        } else {
            other.method()
        }
    }

    /// A URL setting as a sentence names it: `REDIS_URL`, `the url`.
    pub(super) fn url(self) -> &'static str {
        match (self.variable, self.setting) {
            (true, setting) => setting.variable(),
            (false, Setting::Cluster) => "the seed url",
            (false, Setting::Sentinels) => "the sentinel's url",
            (false, _) => "the url",
        }
    }

    /// ` in REDIS_X` for a setting read from a variable, else nothing.
    pub(super) fn within(self) -> String {
        if self.variable {
            format!(" in {}", self.setting.variable())
        } else {
            String::new()
        }
    }
}

impl RedisConfig {
    /// Settings from the environment, as services configure Redis:
    /// `REDIS_URL` (`redis://[user:password@]host:port/db`, or `rediss://`
    /// for TLS), or else its parts `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`,
    /// `REDIS_USERNAME`, `REDIS_PASSWORD` and `REDIS_SSL` (`true`, `1` or
    /// `yes`); `REDIS_CLUSTER_URLS` (comma-separated seeds) for a cluster;
    /// `REDIS_SENTINEL_URLS` (comma-separated) and `REDIS_SENTINEL_MASTER`
    /// for a primary found through Sentinel (see
    /// [`sentinel`](Self::sentinel)).
    /// What is unset keeps its default (`127.0.0.1:6379`, db 0); with none
    /// of `REDIS_URL`, `REDIS_CLUSTER_URLS`, `REDIS_SENTINEL_URLS`,
    /// `REDIS_HOST` and `REDIS_PORT` set, it logs (a `warn` event, target
    /// `memocache`) that it falls back to `redis://127.0.0.1:6379/0`. A
    /// value that does not parse, or that [`validate`](Self::validate)
    /// refuses, makes every connect fail with an error naming the variable
    /// (never a password).
    ///
    /// ```
    /// # use memocache::RedisConfig;
    /// let config = RedisConfig::from_env().client_tracking(true);
    /// # let _ = config;
    /// ```
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`from_env`](Self::from_env) over `var`, which answers a
    /// variable's value.
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let read = |setting: Setting| var(setting.variable());
        let mut config = RedisConfig::new();
        let mut unreadable = Vec::new();
        // The database and TLS of the data nodes: a single server's, or a
        // Sentinel primary's (a URL and a cluster's seeds carry their own).
        let mut node_parts = true;
        if let Some(seeds) = read(Setting::Cluster) {
            config = config
                .cluster(seeds.split(',').map(str::trim).filter(|s| !s.is_empty()))
                .read_from(Setting::Cluster);
            node_parts = false;
        } else if let Some(sentinels) = read(Setting::Sentinels) {
            let sentinels = sentinels
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty());
            match read(Setting::SentinelMaster) {
                Some(master) => {
                    config = config
                        .sentinel(master, sentinels)
                        .read_from(Setting::Sentinels)
                        .read_from(Setting::SentinelMaster);
                }
                None => unreadable
                    .push("REDIS_SENTINEL_MASTER (the master's name, with REDIS_SENTINEL_URLS)"),
            }
        } else if read(Setting::SentinelMaster).is_some() {
            unreadable.push("REDIS_SENTINEL_URLS (the sentinels, with REDIS_SENTINEL_MASTER)");
        } else if let Some(url) = read(Setting::Url) {
            config = config.url(url).read_from(Setting::Url);
            node_parts = false;
        } else {
            if let Some(host) = read(Setting::Host) {
                config = config.host(host).read_from(Setting::Host);
            }
            match read(Setting::Port).map(|port| port.trim().parse()) {
                Some(Ok(port)) => config = config.port(port).read_from(Setting::Port),
                Some(Err(_)) => unreadable.push("REDIS_PORT (a port number from 1 to 65535)"),
                None => {}
            }
        }
        if node_parts {
            match read(Setting::Db).map(|db| db.trim().parse()) {
                Some(Ok(db)) => config = config.db(db).read_from(Setting::Db),
                Some(Err(_)) => unreadable.push("REDIS_DB (a database number)"),
                None => {}
            }
            match read(Setting::Ssl).map(|ssl| ssl.trim().to_ascii_lowercase()) {
                Some(ssl) if ["true", "1", "yes"].contains(&ssl.as_str()) => {
                    config = config.ssl(true).read_from(Setting::Ssl);
                }
                Some(ssl) if ["false", "0", "no"].contains(&ssl.as_str()) => {}
                Some(_) => unreadable.push("REDIS_SSL (true or false)"),
                None => {}
            }
        }
        if let Some(username) = read(Setting::Username) {
            config = config.username(username).read_from(Setting::Username);
        }
        if let Some(password) = read(Setting::Password) {
            config = config.password(password).read_from(Setting::Password);
        }
        if !unreadable.is_empty() {
            config.env_error = Some(format!(
                "cannot read the environment's Redis settings: set {}",
                unreadable.join(", ")
            ));
        } else if !Setting::SERVER
            .iter()
            .any(|s| config.env_settings.contains(s))
        {
            // Warned, not just said: in production it means the settings
            // never reached the process, and the cache silently goes to
            // whatever listens on the local default port.
            let variables = Setting::SERVER.map(Setting::variable).join(", ");
            let server = config.redacted_url();
            tracing::warn!(
                target: "memocache",
                server = %server,
                variables = %variables,
                "RedisConfig::from_env: none of {variables} is set; falling back to {server} \
                 (set REDIS_URL to choose the server)"
            );
        }
        config
    }

    /// Marks `setting` as read from its variable.
    fn read_from(mut self, setting: Setting) -> Self {
        self.env_settings.push(setting);
        self
    }

    /// Marks `setting` as set by its builder method.
    pub(super) fn set_by_hand(mut self, setting: Setting) -> Self {
        self.env_settings.retain(|s| *s != setting);
        self
    }

    /// Where `setting` came from, for errors about it.
    pub(super) fn origin(&self, setting: Setting) -> Origin {
        Origin {
            setting,
            variable: self.env_settings.contains(&setting),
        }
    }

    /// The names of the settings that are set, `/`-separated:
    /// `REDIS_HOST/port(...)`.
    pub(super) fn names_of_set(&self, settings: &[(Setting, bool)]) -> String {
        settings
            .iter()
            .filter(|(_, set)| *set)
            .map(|(setting, _)| self.origin(*setting).name())
            .collect::<Vec<_>>()
            .join("/")
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::{self, Write as _};

    use memocache_core::Error;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> RedisConfig {
        RedisConfig::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_environment_gives_the_url_or_its_parts() {
        assert_eq!(
            from(&[]).connection_url().unwrap(),
            RedisConfig::new().connection_url().unwrap()
        );
        let url = from(&[
            ("REDIS_URL", "redis://cache:6380/2"),
            ("REDIS_HOST", "ignored"),
        ]);
        assert_eq!(url.connection_url().unwrap(), "redis://cache:6380/2");
        let parts = from(&[
            ("REDIS_HOST", "cache.internal"),
            ("REDIS_PORT", "6390"),
            ("REDIS_DB", "3"),
            ("REDIS_USERNAME", "app"),
            ("REDIS_PASSWORD", "s3cret"),
            ("REDIS_SSL", "true"),
        ]);
        assert_eq!(
            parts.connection_url().unwrap(),
            "rediss://app:s3cret@cache.internal:6390/3"
        );
        let cluster = from(&[("REDIS_CLUSTER_URLS", "redis://a:7000, redis://b:7001")]);
        assert!(cluster.is_cluster());
        assert_eq!(cluster.cluster_urls().unwrap().len(), 2);
    }

    #[test]
    fn an_unreadable_variable_is_named_in_the_error() {
        let bad = from(&[
            ("REDIS_PORT", "sixty"),
            ("REDIS_SSL", "maybe"),
            ("REDIS_PASSWORD", "s3cret"),
        ]);
        let error = bad.validate().unwrap_err().to_string();
        assert!(
            error.contains("REDIS_PORT") && error.contains("REDIS_SSL"),
            "{error}"
        );
        assert!(
            !error.contains("sixty") && !error.contains("s3cret"),
            "{error}"
        );
        assert!(!format!("{bad:?}").contains("s3cret"));
    }

    #[test]
    fn the_environment_names_a_sentinel_master() {
        let config = from(&[
            ("REDIS_SENTINEL_URLS", "redis://s1:26379, redis://s2:26379"),
            ("REDIS_SENTINEL_MASTER", "cache"),
            ("REDIS_PASSWORD", "pw"),
            ("REDIS_DB", "2"),
        ]);
        assert_eq!(config.sentinel_master(), Some("cache"));
        assert_eq!(config.sentinel_urls().unwrap().len(), 2);
        assert_eq!(config.node_url("h", 1).unwrap(), "redis://:pw@h:1/2");
        let error = from(&[("REDIS_SENTINEL_URLS", "redis://s1:26379")])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("REDIS_SENTINEL_MASTER"), "{error}");
    }

    /// The configuration error of `config`, as a log line shows it.
    fn config_error(config: &RedisConfig) -> String {
        match config.validate() {
            Err(error @ Error::Config(_)) => error.report().to_string(),
            other => panic!("expected a configuration error for {config:?}, got {other:?}"),
        }
    }

    #[test]
    fn every_environment_mistake_names_its_variable() {
        let sentinel = |urls| {
            [
                ("REDIS_SENTINEL_URLS", urls),
                ("REDIS_SENTINEL_MASTER", "cache"),
            ]
        };
        /// The variables, and what the error must say.
        type Case = (Vec<(&'static str, &'static str)>, &'static [&'static str]);
        let cases: Vec<Case> = vec![
            (
                vec![("REDIS_URL", "redis://app:s3cret@host:notaport/0")],
                &["REDIS_URL", "1 to 65535"],
            ),
            (
                vec![("REDIS_URL", "localhost:6379")],
                &["REDIS_URL has no scheme"],
            ),
            (
                vec![("REDIS_URL", "http://s3cret@h:6379")],
                &["REDIS_URL: use redis://"],
            ),
            (
                vec![("REDIS_URL", "redis://:s3cret@:6379/0")],
                &["REDIS_URL has no host"],
            ),
            (
                vec![("REDIS_URL", "redis://h:6379/abc")],
                &["in REDIS_URL is out of range"],
            ),
            (
                vec![("REDIS_URL", "redis://h:6379/99999999999")],
                &["in REDIS_URL is out of range"],
            ),
            (
                vec![("REDIS_URL", "redis://cache .internal:6379/0")],
                &["in REDIS_URL is not a host"],
            ),
            (
                vec![("REDIS_URL", "redis://app:s3c/ret@h:6379/0")],
                &[
                    "in REDIS_URL contains a raw",
                    "REDIS_USERNAME/REDIS_PASSWORD",
                ],
            ),
            (
                vec![
                    ("REDIS_URL", "redis://app:s3cret@h:6379/0"),
                    ("REDIS_PASSWORD", "0ther"),
                ],
                &["in REDIS_URL and REDIS_PASSWORD", "drop REDIS_PASSWORD"],
            ),
            (
                vec![("REDIS_CLUSTER_URLS", "redis://a:7000, redis://b:x")],
                &["in REDIS_CLUSTER_URLS"],
            ),
            (
                vec![("REDIS_CLUSTER_URLS", "redis://a:7000/2")],
                &["drop it from REDIS_CLUSTER_URLS"],
            ),
            (
                vec![("REDIS_CLUSTER_URLS", "redis://a:7000,rediss://b:7001")],
                &["seed urls in REDIS_CLUSTER_URLS mix"],
            ),
            (
                vec![
                    ("REDIS_CLUSTER_URLS", "redis://:s3cret@a:7000"),
                    ("REDIS_PASSWORD", "0ther"),
                ],
                &["in REDIS_CLUSTER_URLS and REDIS_PASSWORD"],
            ),
            (
                sentinel("redis://:s3cret@s1:x").to_vec(),
                &["in REDIS_SENTINEL_URLS"],
            ),
            (
                sentinel("redis://s1:26379/2").to_vec(),
                &["s1:26379/2 in REDIS_SENTINEL_URLS", "set REDIS_DB"],
            ),
            (
                sentinel("unix:///tmp/s.sock").to_vec(),
                &["in REDIS_SENTINEL_URLS as redis://"],
            ),
            (sentinel(" , ").to_vec(), &["given in REDIS_SENTINEL_URLS"]),
            (
                vec![
                    ("REDIS_SENTINEL_URLS", "redis://s1:26379"),
                    ("REDIS_SENTINEL_MASTER", " "),
                ],
                &["name in REDIS_SENTINEL_MASTER is empty"],
            ),
            (
                vec![("REDIS_SENTINEL_MASTER", "cache")],
                &["set REDIS_SENTINEL_URLS"],
            ),
            (
                [
                    sentinel("redis://s1:26379").as_slice(),
                    &[("REDIS_DB", "2147483647")],
                ]
                .concat(),
                &["in REDIS_DB is out of range"],
            ),
            (
                vec![("REDIS_HOST", "cache.internal ")],
                &["in REDIS_HOST is not a host"],
            ),
            (
                vec![("REDIS_HOST", "cache/0")],
                &["in REDIS_HOST is not a host"],
            ),
            (
                vec![("REDIS_HOST", "app:s3cret@cache")],
                &["the host in REDIS_HOST is not a host"],
            ),
            (vec![("REDIS_PORT", "0")], &["set REDIS_PORT to"]),
            (vec![("REDIS_PORT", "70000")], &["set REDIS_PORT ("]),
            (
                vec![("REDIS_DB", "2147483647")],
                &["in REDIS_DB is out of range"],
            ),
            (vec![("REDIS_DB", "two")], &["set REDIS_DB ("]),
            (vec![("REDIS_SSL", "maybe")], &["set REDIS_SSL ("]),
        ];
        for (vars, expected) in cases {
            let message = config_error(&from(&vars));
            for fragment in expected {
                assert!(
                    message.contains(fragment),
                    "{fragment:?} not in {message:?}"
                );
            }
            assert!(!message.contains("s3c"), "{message}");
        }
    }

    #[test]
    fn a_url_error_from_the_environment_names_the_variable_with_its_cause() {
        use std::error::Error as _;

        let error = from(&[("REDIS_URL", "redis://app:s3cret@host:notaport/0")])
            .validate()
            .unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "invalid configuration: the port `notaport` in REDIS_URL is not a port: use a \
             number from 1 to 65535 (Redis' default is 6379)"
        );
        assert!(
            error
                .source()
                .is_some_and(|e| e.is::<std::num::ParseIntError>())
        );
    }

    #[test]
    fn settings_made_by_hand_name_the_builder_methods() {
        for (config, expected) in [
            (
                RedisConfig::new().url("redis://h:x/0"),
                "in the url is not a port",
            ),
            (
                // A builder method replaces what the environment said.
                from(&[("REDIS_URL", "redis://h:1/0")]).url("redis://h:x/0"),
                "in the url is not a port",
            ),
            (
                from(&[("REDIS_HOST", "h")]).url("redis://h:1/0"),
                "both url(...) and REDIS_HOST were set",
            ),
            (
                RedisConfig::new().url("redis://u:p@h:1/0").password("q"),
                "in the url and password(...)",
            ),
            (
                RedisConfig::new().cluster(["redis://a:1/2"]),
                "drop it from the seed url",
            ),
            (RedisConfig::new().port(0), "set port(...) to"),
            (RedisConfig::new().host("a b"), "in host(...) is not a host"),
            (
                RedisConfig::new().db(u32::MAX),
                "in db(...) is out of range",
            ),
            (
                RedisConfig::new().sentinel("cache", ["redis://s:1/2"]),
                "set db(...) for the data nodes",
            ),
        ] {
            let message = config_error(&config);
            assert!(
                message.contains(expected),
                "{expected:?} not in {message:?}"
            );
            assert!(!message.contains("REDIS_URL"), "{message}");
        }
    }

    /// The events at `info` and above logged on this thread while `run`
    /// runs: each one's level and fields (`name=value`, the message's
    /// name left out).
    fn logged(run: impl FnOnce()) -> Vec<(tracing::Level, String)> {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

        type Events = Arc<Mutex<Vec<(tracing::Level, String)>>>;
        struct Recorder(Events);
        impl<S: tracing::Subscriber> Layer<S> for Recorder {
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                let level = *event.metadata().level();
                if level > tracing::Level::INFO {
                    return;
                }
                let mut text = String::new();
                event.record(
                    &mut |field: &tracing::field::Field, value: &dyn fmt::Debug| {
                        match field.name() {
                            "message" => write!(text, "{value:?}"),
                            name => write!(text, " {name}={value:?}"),
                        }
                        .expect("writing to a String");
                    },
                );
                self.0.lock().unwrap().push((level, text));
            }
        }
        let events = Events::default();
        let subscriber = tracing_subscriber::registry().with(Recorder(Arc::clone(&events)));
        tracing::subscriber::with_default(subscriber, run);
        events.lock().unwrap().clone()
    }

    #[test]
    fn with_no_server_set_the_fall_back_is_logged_once() {
        let events = logged(|| drop(from(&[])));
        assert_eq!(events.len(), 1, "{events:?}");
        let (level, line) = &events[0];
        assert_eq!(*level, tracing::Level::WARN);
        assert!(
            line.starts_with(
                "RedisConfig::from_env: none of REDIS_URL, REDIS_CLUSTER_URLS, \
                 REDIS_SENTINEL_URLS, REDIS_HOST, REDIS_PORT is set; falling back to \
                 redis://127.0.0.1:6379/0 (set REDIS_URL to choose the server)"
            ),
            "{line}"
        );
        assert!(line.contains(" server=redis://127.0.0.1:6379/0"), "{line}");

        // Credentials alone: still the default server, its password hidden.
        let events = logged(|| drop(from(&[("REDIS_PASSWORD", "s3cret"), ("REDIS_DB", "2")])));
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].1.contains("redis://:<redacted>@127.0.0.1:6379/2")
                && !events[0].1.contains("s3cret"),
            "{events:?}"
        );

        for named in [
            &[("REDIS_URL", "redis://cache:6379/0")][..],
            &[("REDIS_CLUSTER_URLS", "redis://a:7000")],
            &[
                ("REDIS_SENTINEL_URLS", "redis://s:26379"),
                ("REDIS_SENTINEL_MASTER", "m"),
            ],
            &[("REDIS_HOST", "cache")],
            &[("REDIS_PORT", "6380")],
            // Refused at connect, with an error naming the variable.
            &[("REDIS_PORT", "sixty")],
            &[("REDIS_SENTINEL_MASTER", "m")],
        ] {
            let events = logged(|| drop(from(named)));
            assert!(events.is_empty(), "{named:?}: {events:?}");
        }
    }
}
