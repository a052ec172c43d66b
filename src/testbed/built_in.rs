//! The built-in reference broker as a target: embedded brokers in this
//! process, fresh ones and token-requiring ones on demand.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::target::StartOptions;
use super::target::{
    BrokerInstance, Target, TargetCaps, TargetError, TargetInfo, TargetKind, TargetProfile,
};
use crate::broker::EmbeddedBroker;
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
        http: Option<BindPlan>,
    ) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let mut builder = EmbeddedBroker::builder()
            .service_def_dir(&self.profile.definitions)
            .hello_timeout(self.profile.hello_timeout);
        if let Some(token) = token {
            builder = builder.auth_token(token);
        }
        if let Some(plan) = http {
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

/// What `serve`'s `--http-port V` and the HTTP variables in `extra` ask of
/// an embedded broker (V2W-1…V2W-4): the only start options it takes.
/// `serve`'s flag that makes backends stop with the broker (the built-in
/// broker's only behaviour).
const STOP_BACKENDS_ON_EXIT: &str = "--stop-backends-on-exit";

fn http_plan(extra: &StartOptions) -> Result<Option<BindPlan>, TargetError> {
    let unsupported = |what: &str| {
        TargetError::Start(format!(
            "the built-in broker takes only --http-port V, {STOP_BACKENDS_ON_EXIT} and the HTTP variables, not {what}"
        ))
    };
    // The built-in broker always stops its backends when it stops.
    let args: Vec<&String> = extra
        .args
        .iter()
        .filter(|a| *a != STOP_BACKENDS_ON_EXIT)
        .collect();
    let spec = match args.as_slice() {
        [] => None,
        [flag, value] if *flag == "--http-port" => Some(
            value
                .parse::<HttpPortSpec>()
                .map_err(|e| TargetError::Start(e.to_string()))?,
        ),
        other => {
            let other: Vec<&str> = other.iter().map(|a| a.as_str()).collect();
            return Err(unsupported(&other.join(" ")));
        }
    };
    if let Some((name, _)) = extra
        .env
        .iter()
        .find(|(k, _)| k != env_vars::HTTP_PORT && k != env_vars::HTTP_BIND)
    {
        return Err(unsupported(name));
    }
    let env = MapEnv::from_pairs(extra.env.iter().cloned());
    Ok(spec.map(|spec| BindPlan::resolve(spec, &env)))
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
        self.start_embedded(None, None)
    }

    fn start_requiring_token(&self, token: &[u8]) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_embedded(Some(token), None)
    }

    fn start_with(&self, extra: &StartOptions) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_embedded(None, http_plan(extra)?)
    }
}
