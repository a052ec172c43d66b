//! Where the surface binds (V2W-1…V2W-5): the `--http-port` value, the
//! environment's overrides — decided purely — and the bind itself.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::str::FromStr;

use crate::env::EnvSource;
use crate::wire::env_vars;

/// A `--http-port` value (V2W-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPortSpec {
    /// `dynamic` (any case) or `0`: an OS-chosen port.
    Dynamic,
    /// N in 1…65535: N, or an OS-chosen port when N is in use.
    Port(u16),
}

/// A `--http-port` value that is neither `dynamic` nor a port: a usage
/// error (exit 2, V2W-2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --http-port value {value:?}: expected `dynamic`, 0 or a port 1-65535 (V2W-2)")]
pub struct InvalidHttpPort {
    /// The value given.
    pub value: String,
}

impl FromStr for HttpPortSpec {
    type Err = InvalidHttpPort;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.eq_ignore_ascii_case("dynamic") {
            return Ok(Self::Dynamic);
        }
        match value.parse::<u16>() {
            Ok(0) => Ok(Self::Dynamic),
            Ok(port) => Ok(Self::Port(port)),
            Err(_) => Err(InvalidHttpPort {
                value: value.to_owned(),
            }),
        }
    }
}

/// What to bind: an address, a port, and whether EADDRINUSE falls back to
/// an OS-chosen port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindPlan {
    /// Address and port to try first.
    pub addr: SocketAddr,
    /// On EADDRINUSE, bind port 0 instead (V2W-2); never with V2W-3's override.
    pub fallback_to_dynamic: bool,
}

impl BindPlan {
    /// V2W-2…V2W-4: `spec`, replaced by `RUNNING_PROCESS_BROKER_HTTP_PORT`
    /// when it holds a u16 (exact, no fallback), at
    /// `RUNNING_PROCESS_BROKER_HTTP_BIND` when it holds an IP address, else
    /// 127.0.0.1. Surrounding whitespace is ignored; garbage is ignored.
    pub fn resolve(spec: HttpPortSpec, env: &dyn EnvSource) -> Self {
        let ip = env
            .var(env_vars::HTTP_BIND)
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let exact = env
            .var(env_vars::HTTP_PORT)
            .and_then(|v| v.trim().parse::<u16>().ok());
        let (port, fallback_to_dynamic) = match (exact, spec) {
            (Some(port), _) => (port, false),
            (None, HttpPortSpec::Dynamic) => (0, false),
            (None, HttpPortSpec::Port(port)) => (port, true),
        };
        Self {
            addr: SocketAddr::new(ip, port),
            fallback_to_dynamic,
        }
    }
}

/// Binds `plan` (non-blocking, ready for tokio), falling back to an
/// OS-chosen port on EADDRINUSE when the plan allows it (V2W-2).
pub fn bind_listener(plan: &BindPlan) -> io::Result<TcpListener> {
    let listener = match TcpListener::bind(plan.addr) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse && plan.fallback_to_dynamic => {
            TcpListener::bind(SocketAddr::new(plan.addr.ip(), 0))?
        }
        other => other?,
    };
    listener.set_nonblocking(true)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    fn env(pairs: &[(&str, &str)]) -> MapEnv {
        MapEnv::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn port_values_per_v2w_2() {
        for (value, spec) in [
            ("dynamic", HttpPortSpec::Dynamic),
            ("DyNaMiC", HttpPortSpec::Dynamic),
            ("0", HttpPortSpec::Dynamic),
            ("1", HttpPortSpec::Port(1)),
            ("65535", HttpPortSpec::Port(65535)),
        ] {
            assert_eq!(value.parse::<HttpPortSpec>(), Ok(spec), "{value}");
        }
        for bad in ["", "65536", "-1", "auto", " 80", "0x50"] {
            assert!(bad.parse::<HttpPortSpec>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn plan_defaults_to_loopback_and_falls_back_only_for_a_fixed_port() {
        let plan = BindPlan::resolve(HttpPortSpec::Port(8080), &env(&[]));
        assert_eq!(plan.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(plan.fallback_to_dynamic);
        let plan = BindPlan::resolve(HttpPortSpec::Dynamic, &env(&[]));
        assert_eq!(plan.addr, "127.0.0.1:0".parse().unwrap());
    }

    #[test]
    fn environment_port_is_exact_and_bind_address_is_honoured() {
        let vars = env(&[
            (env_vars::HTTP_PORT, " 9000 "),
            (env_vars::HTTP_BIND, " ::1 "),
        ]);
        let plan = BindPlan::resolve(HttpPortSpec::Port(8080), &vars);
        assert_eq!(plan.addr, "[::1]:9000".parse().unwrap());
        assert!(!plan.fallback_to_dynamic);
        let vars = env(&[(env_vars::HTTP_PORT, "0")]);
        let plan = BindPlan::resolve(HttpPortSpec::Port(8080), &vars);
        assert_eq!((plan.addr.port(), plan.fallback_to_dynamic), (0, false));
    }

    #[test]
    fn garbage_in_the_environment_is_ignored() {
        let vars = env(&[
            (env_vars::HTTP_PORT, "70000"),
            (env_vars::HTTP_BIND, "localhost"),
        ]);
        let plan = BindPlan::resolve(HttpPortSpec::Port(8080), &vars);
        assert_eq!(plan.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(plan.fallback_to_dynamic);
    }

    #[test]
    fn a_port_in_use_falls_back_only_when_allowed() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let fallback = BindPlan {
            addr,
            fallback_to_dynamic: true,
        };
        let bound = bind_listener(&fallback).unwrap();
        assert_ne!(bound.local_addr().unwrap().port(), addr.port());
        let exact = BindPlan {
            addr,
            fallback_to_dynamic: false,
        };
        let err = bind_listener(&exact).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
