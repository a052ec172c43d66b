//! Broker configuration: CLI flag, then environment (`RUNNING_PROCESS_*`
//! names of the spec), then an optional TOML file, then defaults. An empty
//! variable counts as unset. Every invalid value is reported, one line each.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::auth::AuthTokens;
use crate::definitions::resolve_service_def_dir;
use crate::env::EnvSource;
use crate::http::{BindPlan, HttpPortSpec};
use crate::paths::{BrokerSocket, broker_dir, broker_socket_name, machine_id, user_hash};
use crate::wire::{DEFAULT_HELLO_TIMEOUT, env_vars};

/// Default cap on connections served at once: room for 10 000 idle ones.
pub(super) const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// How verbose the broker's stderr log is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Problems worth a look.
    Warn,
    /// One line per notable event (default).
    Info,
    /// One line per connection.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The `tracing` filter directive.
    pub fn as_filter(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// Threads accepting connections unless configured: one wakes on the
/// connecting client's CPU and answers a lone client fastest.
pub(super) const DEFAULT_ACCEPT_THREADS: usize = 1;

/// The most accepting threads a broker runs.
pub(super) const MAX_ACCEPT_THREADS: usize = 64;

/// The resolved configuration of one broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The broker socket.
    pub socket: PathBuf,
    /// Where service definitions are read (SVC-1).
    pub service_def_dir: PathBuf,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Threads blocked in `accept` (1 answers a lone client fastest; more
    /// help many concurrent clients).
    pub accept_threads: usize,
    /// How long a connection may take to send its first frame (FRM-9).
    pub hello_timeout: Duration,
    /// The lifecycle event log file (EVT-2), if any.
    pub event_log: Option<PathBuf>,
    /// Auth tokens (HEL-12), digested.
    pub auth: AuthTokens,
    /// Root allowed (SEC-4).
    pub allow_privileged: bool,
    /// Broker-owned bind (LCH-3).
    pub owned_bind: bool,
    /// The broker instance id reported by admin verbs.
    pub instance: String,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Leave launched backends running when the broker exits (as upstream does).
    pub backends_outlive_broker: bool,
    /// Serve the HTTP surface here (V2W-1: only with `--http-port`).
    pub http: Option<BindPlan>,
}

/// Values given on the command line (`None` = not given).
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--service-def-dir`.
    pub service_def_dir: Option<PathBuf>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--accept-threads`.
    pub accept_threads: Option<usize>,
    /// `--hello-timeout-ms`.
    pub hello_timeout_ms: Option<u64>,
    /// `--event-log`.
    pub event_log: Option<PathBuf>,
    /// `--config`.
    pub config_file: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<LogLevel>,
    /// `--instance`.
    pub instance: Option<String>,
    /// `--stop-backends-on-exit`.
    pub stop_backends_on_exit: bool,
    /// `--http-port` (V2W-1, V2W-2).
    pub http_port: Option<HttpPortSpec>,
}

/// The optional TOML configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    /// Broker socket.
    pub socket: Option<PathBuf>,
    /// Service definition directory.
    pub service_def_dir: Option<PathBuf>,
    /// Connection cap.
    pub max_connections: Option<usize>,
    /// Accepting threads.
    pub accept_threads: Option<usize>,
    /// Hello deadline.
    pub hello_timeout_ms: Option<u64>,
    /// Event log file.
    pub event_log: Option<PathBuf>,
    /// Log level.
    pub log_level: Option<LogLevel>,
    /// Instance id.
    pub instance: Option<String>,
    /// Broker-owned bind.
    pub owned_bind: Option<bool>,
    /// Stop backends on exit.
    pub stop_backends_on_exit: Option<bool>,
    /// Accepted auth tokens (HEL-12). Kept here only: never on the command line.
    pub auth_tokens: Option<Vec<String>>,
}

/// Resolves the configuration; `Err` lists every problem, one per line.
pub fn resolve_config(
    overrides: &ConfigOverrides,
    env: &dyn EnvSource,
    euid: u32,
) -> Result<BrokerConfig, Vec<String>> {
    let mut problems = Vec::new();
    let file = match &overrides.config_file {
        Some(path) => load_file(path).unwrap_or_else(|p| {
            problems.push(p);
            FileConfig::default()
        }),
        None => FileConfig::default(),
    };

    let socket = overrides
        .socket
        .clone()
        .or(file.socket.clone())
        .or_else(|| match machine_id() {
            Ok(id) => Some(broker_dir(env, euid).join(broker_socket_name(
                &user_hash(euid, &id),
                &BrokerSocket::Shared,
            ))),
            Err(e) => {
                problems.push(format!(
                    "no --socket given and the default cannot be computed: {e}"
                ));
                None
            }
        });
    if let Some(s) = &socket
        && !s.is_absolute()
    {
        problems.push(format!("socket {}: must be an absolute path", s.display()));
    }

    let service_def_dir = overrides
        .service_def_dir
        .clone()
        .or_else(|| env.var(env_vars::SERVICE_DEF_DIR).map(PathBuf::from))
        .or(file.service_def_dir.clone())
        .or_else(|| resolve_service_def_dir(None, env));
    if service_def_dir.is_none() {
        problems.push(format!(
            "no service definition directory: pass --service-def-dir or set {}",
            env_vars::SERVICE_DEF_DIR
        ));
    }

    let max_connections = overrides
        .max_connections
        .or(file.max_connections)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        problems.push("max_connections: must be at least 1".into());
    }
    let accept_threads = overrides
        .accept_threads
        .or(file.accept_threads)
        .unwrap_or(DEFAULT_ACCEPT_THREADS);
    if !(1..=MAX_ACCEPT_THREADS).contains(&accept_threads) {
        problems.push(format!(
            "accept_threads: must be 1 to {MAX_ACCEPT_THREADS}, not {accept_threads}"
        ));
    }

    let hello_timeout_ms = overrides
        .hello_timeout_ms
        .or(hello_timeout_from_env(env))
        .or(file.hello_timeout_ms);
    if hello_timeout_ms == Some(0) {
        problems.push("hello_timeout_ms: must be at least 1".into());
    }

    let allow_privileged = match env.var(env_vars::ALLOW_PRIVILEGED).as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            problems.push(format!(
                "{}={other:?}: must be 1 or 0",
                env_vars::ALLOW_PRIVILEGED
            ));
            false
        }
    };
    let owned_bind = match env.var(env_vars::OWNED_BIND).as_deref() {
        None => file.owned_bind.unwrap_or(true),
        Some("1") => true,
        Some("0") => false,
        Some(other) => {
            problems.push(format!(
                "{}={other:?}: must be 1 or 0",
                env_vars::OWNED_BIND
            ));
            true
        }
    };

    let instance = overrides
        .instance
        .clone()
        .or(file.instance.clone())
        .unwrap_or_else(|| "shared".into());
    if instance.is_empty() || instance.contains(char::is_whitespace) {
        problems.push(format!(
            "instance {instance:?}: must be non-empty without white space"
        ));
    }
    let tokens = file.auth_tokens.clone().unwrap_or_default();
    if tokens.iter().any(String::is_empty) {
        problems.push("auth_tokens: an empty token would match clients that send none".into());
    }

    match (socket, service_def_dir) {
        (Some(socket), Some(service_def_dir)) if problems.is_empty() => Ok(BrokerConfig {
            socket,
            service_def_dir,
            max_connections,
            accept_threads,
            hello_timeout: hello_timeout_ms.map_or(DEFAULT_HELLO_TIMEOUT, Duration::from_millis),
            event_log: overrides.event_log.clone().or(file.event_log.clone()),
            auth: AuthTokens::new(&tokens),
            allow_privileged,
            owned_bind,
            instance,
            log_level: overrides
                .log_level
                .or(file.log_level)
                .unwrap_or(LogLevel::Info),
            backends_outlive_broker: !(overrides.stop_backends_on_exit
                || file.stop_backends_on_exit.unwrap_or(false)),
            http: overrides.http_port.map(|spec| BindPlan::resolve(spec, env)),
        }),
        _ => Err(problems),
    }
}

fn load_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let message = e.message().to_owned();
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!("config file {} line {line}: {message}", path.display())
            }
            None => format!("config file {}: {message}", path.display()),
        }
    })
}

/// FRM-9, V2F-3: the Hello deadline from the environment in milliseconds;
/// `None` when unset, 0 or garbage ("use the default").
pub(crate) fn hello_timeout_from_env(env: &dyn EnvSource) -> Option<u64> {
    env.var(env_vars::HELLO_TIMEOUT_MS)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    fn base() -> ConfigOverrides {
        ConfigOverrides {
            socket: Some("/tmp/b.sock".into()),
            ..ConfigOverrides::default()
        }
    }

    #[test]
    fn flag_beats_environment_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("broker.toml");
        std::fs::write(
            &file,
            "service_def_dir = \"/from/file\"\nhello_timeout_ms = 700\nmax_connections = 9\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let env = MapEnv::from_pairs([
            (env_vars::SERVICE_DEF_DIR, "/from/env"),
            (env_vars::HELLO_TIMEOUT_MS, ""),
        ]);
        let mut o = base();
        o.config_file = Some(file);
        let c = resolve_config(&o, &env, 1000).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.service_def_dir, PathBuf::from("/from/env"));
        assert_eq!(
            c.hello_timeout,
            Duration::from_millis(700),
            "empty env var counts as unset"
        );
        assert_eq!(c.max_connections, 9);
        o.service_def_dir = Some("/from/flag".into());
        o.hello_timeout_ms = Some(5);
        let c = resolve_config(&o, &env, 1000).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.service_def_dir, PathBuf::from("/from/flag"));
        assert_eq!(c.hello_timeout, Duration::from_millis(5));
    }

    #[test]
    fn garbage_hello_timeout_in_the_environment_means_the_default() {
        let env = MapEnv::from_pairs([
            (env_vars::SERVICE_DEF_DIR, "/d"),
            (env_vars::HELLO_TIMEOUT_MS, "soon"),
        ]);
        let c = resolve_config(&base(), &env, 1000).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.hello_timeout, DEFAULT_HELLO_TIMEOUT);
        let zero = MapEnv::from_pairs([
            (env_vars::SERVICE_DEF_DIR, "/d"),
            (env_vars::HELLO_TIMEOUT_MS, "0"),
        ]);
        let c = resolve_config(&base(), &zero, 1000).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.hello_timeout, DEFAULT_HELLO_TIMEOUT);
    }

    #[test]
    fn every_problem_is_reported_on_its_own_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("broker.toml");
        std::fs::write(&file, "max_conections = 3\n").unwrap_or_else(|e| panic!("{e}"));
        let env = MapEnv::from_pairs([
            (env_vars::SERVICE_DEF_DIR, "/d"),
            (env_vars::ALLOW_PRIVILEGED, "yes"),
            (env_vars::OWNED_BIND, "maybe"),
        ]);
        let mut o = base();
        o.config_file = Some(file);
        o.max_connections = Some(0);
        o.socket = Some("relative.sock".into());
        let problems = resolve_config(&o, &env, 1000).err().unwrap_or_default();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(
            problems[0].contains("line 1") && problems[0].contains("max_conections"),
            "{problems:#?}"
        );
    }

    #[test]
    fn auth_tokens_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("broker.toml");
        std::fs::write(
            &file,
            "service_def_dir = \"/d\"\nauth_tokens = [\"a\", \"b\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut o = base();
        o.config_file = Some(file);
        let c = resolve_config(&o, &MapEnv::default(), 1000).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.auth.count(), 2);
    }

    #[test]
    fn accept_threads_default_to_one_and_are_bounded() {
        let env = MapEnv::from_pairs([(env_vars::SERVICE_DEF_DIR, "/d")]);
        let c = resolve_config(&base(), &env, 1000).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.accept_threads, DEFAULT_ACCEPT_THREADS);
        let mut o = base();
        o.accept_threads = Some(2);
        let c = resolve_config(&o, &env, 1000).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.accept_threads, 2);
        for bad in [0, MAX_ACCEPT_THREADS + 1] {
            o.accept_threads = Some(bad);
            let problems = resolve_config(&o, &env, 1000).err().unwrap_or_default();
            assert!(
                problems.iter().any(|p| p.starts_with("accept_threads:")),
                "{problems:?}"
            );
        }
    }
}
