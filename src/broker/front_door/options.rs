//! The front door's command line and environment, pure: upstream's options
//! with upstream's meaning (V2L-10: values as separate arguments, the last
//! of a repeated option wins, `--help` is a usage error), `--http-port`'s
//! values (V2W-2), and the variables of spec §13.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::broker::config::hello_timeout_from_env;
use crate::definitions::resolve_service_def_dir;
use crate::env::EnvSource;
use crate::http::HttpPortSpec;
use crate::paths::DEFAULT_FRONT_DOOR_PROGRAM;
use crate::wire::{DEFAULT_HELLO_TIMEOUT, env_vars};

/// Connections handled at once without `RUNNING_PROCESS_BROKER_MAX_INFLIGHT_HANDLERS` (V2L-7).
pub const DEFAULT_MAX_INFLIGHT_HANDLERS: usize = 256;

/// The usage text, printed on a usage error (`--help` included, V2L-4).
pub const USAGE: &str = "usage: broker-conformance serve --v2
  [--program <name>]          (default: broker-v2-scaffold)
  [--once]                    (accept one connection, exit 0 if it negotiated, else 1)
  [--no-bind]                 (exit 0 at once)
  [--http-port <n|dynamic>]   (serve the HTTP status page; off by default)";

/// The options of `serve --v2` (V2L-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoorOptions {
    /// `P` (V2N-1); checked at startup, not here (V2N-3 exits 1, not 2).
    pub program: String,
    /// Serve one connection (V2L-5).
    pub once: bool,
    /// Bind nothing and exit 0 (V2L-4).
    pub no_bind: bool,
    /// The HTTP surface, when asked for (V2W-1).
    pub http_port: Option<HttpPortSpec>,
}

/// A usage error: exit 2 (V2L-4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// `--help` (a usage error, as upstream's).
    #[error("{USAGE}")]
    Help,
    /// An option without its value.
    #[error("{0} requires a value\n{USAGE}")]
    MissingValue(&'static str),
    /// `--http-port` with a value V2W-2 does not allow.
    #[error("--http-port expects a port number or `dynamic`, got {0:?}")]
    HttpPort(String),
    /// Anything else, `--program=x` included.
    #[error("unknown argument: {0}\n{USAGE}")]
    Unknown(String),
}

/// Parses the arguments after `serve` (the `--v2` switch itself is skipped).
pub fn parse_options(
    args: impl IntoIterator<Item = OsString>,
) -> Result<FrontDoorOptions, UsageError> {
    let mut options = FrontDoorOptions {
        program: DEFAULT_FRONT_DOOR_PROGRAM.to_owned(),
        once: false,
        no_bind: false,
        http_port: None,
    };
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        let mut value = |name| args.next().ok_or(UsageError::MissingValue(name));
        match arg.as_str() {
            "--v2" => {}
            "--once" => options.once = true,
            "--no-bind" => options.no_bind = true,
            "--program" => options.program = value("--program")?,
            "--http-port" => {
                let v = value("--http-port")?;
                let port = v
                    .parse::<HttpPortSpec>()
                    .map_err(|_| UsageError::HttpPort(v))?;
                options.http_port = Some(port);
            }
            "--help" | "-h" => return Err(UsageError::Help),
            _ => return Err(UsageError::Unknown(arg)),
        }
    }
    Ok(options)
}

/// What the environment sets (spec §13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoorSettings {
    /// The Hello deadline (V2F-3): 0 or garbage means 30 s.
    pub hello_timeout: Duration,
    /// Connections handled at once (V2L-7): 0 or garbage means 256.
    pub max_inflight: usize,
    /// `RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED` is exactly `1` (V2L-4).
    pub allow_privileged: bool,
    /// SVC-1's directory without a command-line override (V2D-1).
    pub service_def_dir: Option<PathBuf>,
}

impl FrontDoorSettings {
    /// Reads the front door's variables from `env`.
    pub fn from_env(env: &dyn EnvSource) -> Self {
        Self {
            hello_timeout: hello_timeout_from_env(env)
                .map_or(DEFAULT_HELLO_TIMEOUT, Duration::from_millis),
            max_inflight: env
                .var(env_vars::MAX_INFLIGHT_HANDLERS)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_MAX_INFLIGHT_HANDLERS),
            allow_privileged: env.raw(env_vars::ALLOW_PRIVILEGED).as_deref() == Some("1"),
            service_def_dir: resolve_service_def_dir(None, env),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    fn parse(args: &[&str]) -> Result<FrontDoorOptions, UsageError> {
        parse_options(args.iter().map(OsString::from))
    }

    #[test]
    fn defaults_and_every_option() {
        let options = parse(&["--v2"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            options,
            FrontDoorOptions {
                program: "broker-v2-scaffold".into(),
                once: false,
                no_bind: false,
                http_port: None,
            }
        );
        let options = parse(&[
            "--program",
            "zc",
            "--once",
            "--v2",
            "--no-bind",
            "--http-port",
            "8080",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(options.program, "zc");
        assert!(options.once && options.no_bind);
        assert_eq!(options.http_port, Some(HttpPortSpec::Port(8080)));
    }

    #[test]
    fn v2l10_the_last_of_a_repeated_option_wins_and_a_bad_program_is_not_a_usage_error() {
        let options = parse(&[
            "--program",
            "a",
            "--program",
            "BAD",
            "--http-port",
            "1",
            "--http-port",
            "DyNaMiC",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(options.program, "BAD", "V2N-3 is a startup failure, exit 1");
        assert_eq!(options.http_port, Some(HttpPortSpec::Dynamic));
    }

    #[test]
    fn v2l4_usage_errors_help_included() {
        assert_eq!(parse(&["--help"]), Err(UsageError::Help));
        assert_eq!(parse(&["--no-bind", "-h"]), Err(UsageError::Help));
        assert_eq!(
            parse(&["--program=x"]),
            Err(UsageError::Unknown("--program=x".into())),
            "values as separate arguments only"
        );
        assert_eq!(
            parse(&["--program"]),
            Err(UsageError::MissingValue("--program"))
        );
        assert_eq!(
            parse(&["--http-port"]),
            Err(UsageError::MissingValue("--http-port"))
        );
        assert_eq!(parse(&["x"]), Err(UsageError::Unknown("x".into())));
    }

    #[test]
    fn v2w2_http_port_values() {
        let port = |n| Some(HttpPortSpec::Port(n));
        assert_eq!(
            "dynamic".parse::<HttpPortSpec>().ok(),
            Some(HttpPortSpec::Dynamic)
        );
        assert_eq!(
            "DYNAMIC".parse::<HttpPortSpec>().ok(),
            Some(HttpPortSpec::Dynamic)
        );
        assert_eq!(
            "0".parse::<HttpPortSpec>().ok(),
            Some(HttpPortSpec::Dynamic)
        );
        assert_eq!("1".parse::<HttpPortSpec>().ok(), port(1));
        assert_eq!("65535".parse::<HttpPortSpec>().ok(), port(65535));
        for bad in ["65536", "-1", "", "dyn", "8080x", "1.5"] {
            assert_eq!(bad.parse::<HttpPortSpec>().ok(), None, "{bad:?}");
        }
        assert_eq!(
            parse(&["--http-port", "70000"]),
            Err(UsageError::HttpPort("70000".into()))
        );
    }

    #[test]
    fn environment_defaults_for_zero_garbage_and_unset() {
        let defaults = FrontDoorSettings::from_env(&MapEnv::from_pairs([("HOME", "/h")]));
        assert_eq!(defaults.hello_timeout, DEFAULT_HELLO_TIMEOUT);
        assert_eq!(defaults.max_inflight, 256);
        assert!(!defaults.allow_privileged);
        assert_eq!(
            defaults.service_def_dir,
            Some(PathBuf::from("/h/.config/running-process/services"))
        );
        for garbage in ["0", "soon", "-3"] {
            let env = MapEnv::from_pairs([
                (env_vars::HELLO_TIMEOUT_MS, garbage),
                (env_vars::MAX_INFLIGHT_HANDLERS, garbage),
                (env_vars::ALLOW_PRIVILEGED, "yes"),
            ]);
            let settings = FrontDoorSettings::from_env(&env);
            assert_eq!(settings.hello_timeout, DEFAULT_HELLO_TIMEOUT, "{garbage}");
            assert_eq!(settings.max_inflight, 256, "{garbage}");
            assert!(!settings.allow_privileged);
        }
        let env = MapEnv::from_pairs([
            (env_vars::HELLO_TIMEOUT_MS, "250"),
            (env_vars::MAX_INFLIGHT_HANDLERS, "2"),
            (env_vars::ALLOW_PRIVILEGED, "1"),
            (env_vars::SERVICE_DEF_DIR, "/defs"),
        ]);
        let settings = FrontDoorSettings::from_env(&env);
        assert_eq!(settings.hello_timeout, Duration::from_millis(250));
        assert_eq!(settings.max_inflight, 2);
        assert!(settings.allow_privileged);
        assert_eq!(settings.service_def_dir, Some(PathBuf::from("/defs")));
    }
}
