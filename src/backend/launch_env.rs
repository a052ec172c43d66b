//! The launch contract as a backend reads it (LCH-2, LCH-3, LCH-6).

use std::os::fd::RawFd;
use std::path::PathBuf;

use crate::env::EnvSource;
use crate::wire::env_vars;

/// What a broker told a backend it launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEnv {
    /// The service the backend was launched for.
    pub service_name: String,
    /// The version it must serve (the client's `wanted_version`).
    pub service_version: String,
    /// The socket path to serve frames on.
    pub backend_pipe: PathBuf,
    /// The endpoint namespace (the instance id).
    pub namespace: String,
    /// The instance id.
    pub instance: String,
    /// The Hello's `traceparent`, when it had one.
    pub traceparent: Option<String>,
    /// The Hello's `tracestate`, when it had one.
    pub tracestate: Option<String>,
    /// Where to accept handoff connections (LCH-6), when the service opted in.
    pub handoff_pipe: Option<PathBuf>,
    /// The inherited listening socket's descriptor (LCH-3), when announced.
    pub listener_fd: Option<RawFd>,
    /// `RUNNING_PROCESS_IS_DAEMON=1`.
    pub is_daemon: bool,
}

/// A launch environment that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchEnvError {
    /// A required variable is unset or empty.
    #[error("{0} is not set: this process was not launched by a broker (LCH-2)")]
    Missing(&'static str),
    /// A variable holds something unusable.
    #[error("{variable}={value:?}: {problem}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
}

impl LaunchEnv {
    /// Reads the launch contract from `env` (LCH-2, LCH-3, LCH-6).
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, LaunchEnvError> {
        let required = |name: &'static str| env.var(name).ok_or(LaunchEnvError::Missing(name));
        let absolute = |name: &'static str, value: String| {
            let path = PathBuf::from(&value);
            if path.is_absolute() {
                Ok(path)
            } else {
                Err(LaunchEnvError::Invalid {
                    variable: name,
                    value,
                    problem: "must be an absolute socket path",
                })
            }
        };
        let backend_pipe = absolute(env_vars::BACKEND_PIPE, required(env_vars::BACKEND_PIPE)?)?;
        let handoff_pipe = env
            .var(env_vars::BACKEND_HANDOFF_PIPE)
            .map(|v| absolute(env_vars::BACKEND_HANDOFF_PIPE, v))
            .transpose()?;
        let listener_fd = env
            .var(env_vars::LISTENER_FD)
            .map(|v| {
                v.parse::<RawFd>()
                    .ok()
                    .filter(|fd| *fd >= 0)
                    .ok_or(LaunchEnvError::Invalid {
                        variable: env_vars::LISTENER_FD,
                        value: v,
                        problem: "must be a descriptor number",
                    })
            })
            .transpose()?;
        let instance = env.var(env_vars::BACKEND_INSTANCE).unwrap_or_default();
        Ok(Self {
            service_name: required(env_vars::BACKEND_SERVICE_NAME)?,
            service_version: required(env_vars::BACKEND_SERVICE_VERSION)?,
            backend_pipe,
            namespace: env
                .var(env_vars::BACKEND_NAMESPACE)
                .unwrap_or_else(|| instance.clone()),
            instance,
            traceparent: env.var(env_vars::BACKEND_TRACEPARENT),
            tracestate: env.var(env_vars::BACKEND_TRACESTATE),
            handoff_pipe,
            listener_fd,
            is_daemon: env.var(env_vars::IS_DAEMON).as_deref() == Some("1"),
        })
    }

    /// A launch environment for a backend started by hand (no broker):
    /// serve `backend_pipe` for `service_name`/`service_version`.
    pub fn standalone(service_name: &str, service_version: &str, backend_pipe: PathBuf) -> Self {
        Self {
            service_name: service_name.to_owned(),
            service_version: service_version.to_owned(),
            backend_pipe,
            namespace: String::new(),
            instance: String::new(),
            traceparent: None,
            tracestate: None,
            handoff_pipe: None,
            listener_fd: None,
            is_daemon: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn reads_the_contract_and_rejects_bad_values() {
        let env = MapEnv::from_pairs([
            (env_vars::BACKEND_SERVICE_NAME, "svc"),
            (env_vars::BACKEND_SERVICE_VERSION, "1.0.0"),
            (env_vars::BACKEND_PIPE, "/tmp/b.sock"),
            (env_vars::BACKEND_INSTANCE, "shared"),
            (env_vars::LISTENER_FD, "3"),
            (env_vars::IS_DAEMON, "1"),
        ]);
        let launch = LaunchEnv::from_env(&env);
        assert!(
            launch
                .as_ref()
                .is_ok_and(|l| l.listener_fd == Some(3) && l.namespace == "shared"),
            "{launch:?}"
        );
        let mut bad = env.clone();
        bad.0.insert(env_vars::LISTENER_FD.into(), "x".into());
        assert!(matches!(
            LaunchEnv::from_env(&bad),
            Err(LaunchEnvError::Invalid { .. })
        ));
        let mut relative = env.clone();
        relative
            .0
            .insert(env_vars::BACKEND_PIPE.into(), "b.sock".into());
        assert!(matches!(
            LaunchEnv::from_env(&relative),
            Err(LaunchEnvError::Invalid { .. })
        ));
        assert_eq!(
            LaunchEnv::from_env(&MapEnv::default()),
            Err(LaunchEnvError::Missing(env_vars::BACKEND_PIPE))
        );
    }
}
