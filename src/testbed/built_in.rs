//! The built-in reference broker as a target: embedded brokers in this
//! process, fresh ones and token-requiring ones on demand.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::target::StartOptions;
use super::target::{
    BrokerInstance, Target, TargetCaps, TargetError, TargetInfo, TargetKind, TargetProfile,
};
use crate::broker::EmbeddedBroker;
use crate::broker::hello_timeout_from_env;
use crate::env::MapEnv;
use crate::http::{BindPlan, HttpPortSpec};
use crate::wire::env_vars;

/// How long a stopping embedded broker may take to drain.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// The built-in reference broker, in this process.
pub struct BuiltInTarget {
    profile: TargetProfile,
}

impl BuiltInTarget {
    /// Brokers reading `definitions`, with this Hello deadline, judged as
    /// `kind` (a launching broker, or a v1 broker for the v1 cases alone).
    pub fn new(definitions: &Path, hello_timeout: Duration, kind: TargetKind) -> Self {
        Self {
            profile: TargetProfile {
                kind,
                definitions: definitions.to_path_buf(),
                hello_timeout,
                caps: TargetCaps {
                    fresh_brokers: true,
                    auth_tokens: true,
                    owns_definitions: true,
                    // `--http-port V` and the HTTP variables (V2W-2…V2W-4).
                    start_options: true,
                    http_surface: true,
                    // Embedded in this process: its limits are the runner's own.
                    processes: false,
                },
            },
        }
    }

    fn start_embedded(
        &self,
        token: Option<&[u8]>,
        plan: StartPlan,
    ) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let mut builder = EmbeddedBroker::builder()
            .service_def_dir(&self.profile.definitions)
            .hello_timeout(plan.hello_timeout.unwrap_or(self.profile.hello_timeout));
        if let Some(token) = token {
            builder = builder.auth_token(token);
        }
        if let Some(plan) = plan.http {
            builder = builder.http(plan);
        }
        let broker = builder
            .start()
            .map_err(|e| TargetError::Start(e.to_string()))?;
        Ok(Box::new(EmbeddedInstance {
            socket: broker.endpoint().to_path_buf(),
            broker: Some(broker),
        }))
    }
}

/// `serve`'s flag that makes backends stop with the broker: the built-in
/// broker always does, so it takes the flag and changes nothing.
const STOP_BACKENDS_ON_EXIT: &str = "--stop-backends-on-exit";

/// What a fresh broker's start options ask of an embedded broker: the only
/// ones it takes are `serve`'s `--http-port V` with the HTTP variables
/// (V2W-1…V2W-4), the Hello deadline's variable (FRM-9), and
/// `--stop-backends-on-exit`.
#[derive(Debug, Default)]
struct StartPlan {
    http: Option<BindPlan>,
    hello_timeout: Option<Duration>,
}

impl StartPlan {
    fn of(extra: &StartOptions) -> Result<Self, TargetError> {
        let unsupported = |what: &str| {
            TargetError::Start(format!(
                "the built-in broker takes only --http-port V, {STOP_BACKENDS_ON_EXIT}, \
                 {} and the HTTP variables, not {what}",
                env_vars::HELLO_TIMEOUT_MS
            ))
        };
        let args: Vec<&str> = extra
            .args
            .iter()
            .map(String::as_str)
            .filter(|a| *a != STOP_BACKENDS_ON_EXIT)
            .collect();
        let spec = match args.as_slice() {
            [] => None,
            ["--http-port", value] => Some(
                value
                    .parse::<HttpPortSpec>()
                    .map_err(|e| TargetError::Start(e.to_string()))?,
            ),
            other => return Err(unsupported(&other.join(" "))),
        };
        let known = [
            env_vars::HTTP_PORT,
            env_vars::HTTP_BIND,
            env_vars::HELLO_TIMEOUT_MS,
        ];
        if let Some((name, _)) = extra.env.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(unsupported(name));
        }
        let env = MapEnv::from_pairs(extra.env.iter().cloned());
        Ok(Self {
            http: spec.map(|spec| BindPlan::resolve(spec, &env)),
            hello_timeout: hello_timeout_from_env(&env).map(Duration::from_millis),
        })
    }
}

/// An embedded broker; `None` once stopped.
struct EmbeddedInstance {
    broker: Option<EmbeddedBroker>,
    socket: PathBuf,
}

impl BrokerInstance for EmbeddedInstance {
    fn socket(&self) -> &Path {
        &self.socket
    }

    fn event_log(&self) -> Option<&Path> {
        self.broker.as_ref().and_then(EmbeddedBroker::event_log)
    }

    fn stop(&mut self) {
        if let Some(broker) = self.broker.take() {
            let _ = broker.shutdown_with(SHUTDOWN_GRACE);
        }
    }
}

impl Target for BuiltInTarget {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: "built-in".into(),
            label: "reference".into(),
            command: None,
            is_reference: true,
        }
    }

    fn profile(&self) -> &TargetProfile {
        &self.profile
    }

    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_embedded(None, StartPlan::default())
    }

    fn start_requiring_token(&self, token: &[u8]) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_embedded(Some(token), StartPlan::default())
    }

    fn start_with(&self, extra: &StartOptions) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_embedded(None, StartPlan::of(extra)?)
    }
}
