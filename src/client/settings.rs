//! The client's environment seams (CLI-1, CLI-2, CLI-6), read through
//! [`EnvSource`] so tests never touch the process environment.

use std::path::PathBuf;
use std::time::Duration;

use super::error::ClientError;
use crate::env::EnvSource;
use crate::wire::DEFAULT_CLIENT_TIMEOUT;
use crate::wire::env_vars::{CLIENT_TIMEOUT_MS, DISABLE, FAKE_BACKEND};

/// What the environment says about broker use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// `RUNNING_PROCESS_DISABLE=1`: callers take their direct path (CLI-1).
    pub disabled: bool,
    /// `RUNNING_PROCESS_FAKE_BACKEND`: connect straight here (CLI-2).
    pub fake_backend: Option<PathBuf>,
    /// Bound on a Hello or admin round trip (CLI-6).
    pub timeout: Duration,
}

impl Default for ClientSettings {
    /// Broker use allowed, no seam, the default 30 s bound.
    fn default() -> Self {
        Self {
            disabled: false,
            fake_backend: None,
            timeout: DEFAULT_CLIENT_TIMEOUT,
        }
    }
}

impl ClientSettings {
    /// Reads all three variables; an empty variable counts as unset. Every
    /// variable is validated even when the client is disabled, so a typo
    /// surfaces the first time the configuration is read.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ClientError> {
        Ok(Self {
            disabled: disabled_from_env(env)?,
            fake_backend: env.var(FAKE_BACKEND).map(PathBuf::from),
            timeout: timeout_from_env(env)?,
        })
    }
}

/// CLI-1: unset ⇒ allowed, `1` ⇒ disabled, anything else ⇒ a configuration
/// error naming the value.
pub(crate) fn disabled_from_env(env: &dyn EnvSource) -> Result<bool, ClientError> {
    match env.var(DISABLE) {
        None => Ok(false),
        Some(value) if value == "1" => Ok(true),
        Some(value) => Err(ClientError::Config {
            variable: DISABLE,
            value,
            problem: "must be unset or 1".to_owned(),
        }),
    }
}

/// CLI-6: the round-trip bound in milliseconds, a positive integer; unset ⇒
/// [`DEFAULT_CLIENT_TIMEOUT`].
pub fn timeout_from_env(env: &dyn EnvSource) -> Result<Duration, ClientError> {
    let Some(value) = env.var(CLIENT_TIMEOUT_MS) else {
        return Ok(DEFAULT_CLIENT_TIMEOUT);
    };
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(ClientError::Config {
            variable: CLIENT_TIMEOUT_MS,
            value,
            problem: "must be a positive integer number of milliseconds".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn nothing_set_means_allowed_without_seam_and_the_default_timeout() {
        let settings = ClientSettings::from_env(&MapEnv::default()).unwrap();
        assert_eq!(settings, ClientSettings::default());
        assert_eq!(settings.timeout, Duration::from_secs(30));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = MapEnv::from_pairs([(DISABLE, ""), (FAKE_BACKEND, ""), (CLIENT_TIMEOUT_MS, "")]);
        assert_eq!(
            ClientSettings::from_env(&env).unwrap(),
            ClientSettings::default()
        );
    }

    #[test]
    fn disable_accepts_only_one() {
        let on = MapEnv::from_pairs([(DISABLE, "1")]);
        assert!(ClientSettings::from_env(&on).unwrap().disabled);
        for bad in ["0", "true", "yes", " 1", "11"] {
            let env = MapEnv::from_pairs([(DISABLE, bad)]);
            match ClientSettings::from_env(&env) {
                Err(ClientError::Config {
                    variable, value, ..
                }) => {
                    assert_eq!(variable, DISABLE);
                    assert_eq!(value, bad);
                }
                other => panic!("{bad:?}: expected a Config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn timeout_must_be_a_positive_integer() {
        let env = MapEnv::from_pairs([(CLIENT_TIMEOUT_MS, "750")]);
        assert_eq!(
            ClientSettings::from_env(&env).unwrap().timeout,
            Duration::from_millis(750)
        );
        for bad in ["0", "-5", "1.5", "abc", "10ms"] {
            let env = MapEnv::from_pairs([(CLIENT_TIMEOUT_MS, bad)]);
            let err = ClientSettings::from_env(&env).unwrap_err();
            assert!(
                matches!(&err, ClientError::Config { variable, value, .. }
                    if *variable == CLIENT_TIMEOUT_MS && value == bad),
                "{bad:?}: {err:?}"
            );
            assert!(err.to_string().contains(CLIENT_TIMEOUT_MS), "{err}");
        }
    }

    #[test]
    fn fake_backend_is_read_as_a_path() {
        let env = MapEnv::from_pairs([(FAKE_BACKEND, "/tmp/be.sock")]);
        assert_eq!(
            ClientSettings::from_env(&env).unwrap().fake_backend,
            Some(PathBuf::from("/tmp/be.sock"))
        );
    }
}
