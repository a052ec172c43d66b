//! Socket names on Linux (spec §13): the per-user hash, the broker socket
//! directory and the leaf names of broker and backend sockets.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::env::EnvSource;
use crate::inspect::hex::to_hex;

/// Where the per-user hash reads the machine id, in order (§13).
const MACHINE_ID_FILES: &[&str] = &["/etc/machine-id", "/var/lib/dbus/machine-id"];
/// The kernel's boot id (PRB-3, §13).
pub const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// Unix socket paths must be shorter than this (including the NUL).
pub const SUN_PATH_MAX: usize = 108;

/// The boot id, trimmed (PRB-3).
pub fn boot_id() -> io::Result<String> {
    Ok(fs::read_to_string(BOOT_ID_FILE)?.trim().to_owned())
}

/// The machine id: `/etc/machine-id`, else `/var/lib/dbus/machine-id`, else
/// `boot:<boot_id>` (§13).
pub fn machine_id() -> io::Result<String> {
    for file in MACHINE_ID_FILES {
        if let Ok(text) = fs::read_to_string(file) {
            let id = text.trim();
            if !id.is_empty() {
                return Ok(id.to_owned());
            }
        }
    }
    Ok(format!("boot:{}", boot_id()?))
}

/// The per-user hash `S`: the first 8 bytes of BLAKE3(`"<uid>:<machine_id>"`)
/// as 16 lowercase hex digits (§13).
pub fn user_hash(uid: u32, machine_id: &str) -> String {
    let digest = blake3::hash(format!("{uid}:{machine_id}").as_bytes());
    to_hex(&digest.as_bytes()[..8])
}

/// The broker socket directory: `$XDG_RUNTIME_DIR/running-process/broker`,
/// else `/tmp/running-process-<uid>/broker` (§13).
pub fn broker_dir(env: &dyn EnvSource, uid: u32) -> PathBuf {
    match env.var("XDG_RUNTIME_DIR") {
        Some(runtime) => Path::new(&runtime).join("running-process").join("broker"),
        None => PathBuf::from(format!("/tmp/running-process-{uid}")).join("broker"),
    }
}

/// Which broker a socket belongs to (§7.1, §13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerSocket {
    /// The per-user shared broker.
    Shared,
    /// A broker private to one service.
    Private(String),
    /// A named explicit instance.
    Explicit(String),
}

/// The leaf name of a broker socket (§13).
pub fn broker_socket_name(user_hash: &str, socket: &BrokerSocket) -> String {
    match socket {
        BrokerSocket::Shared => format!("rpb-v1-{user_hash}-shared.sock"),
        BrokerSocket::Private(service) => format!("rpb-v1-{user_hash}-svc-{service}.sock"),
        BrokerSocket::Explicit(name) => format!("rpb-v1-{user_hash}-inst-{name}.sock"),
    }
}

/// The leaf name of a backend socket: 16 random bytes as 32 hex digits (§13).
pub fn backend_socket_name(user_hash: &str, random: &[u8; 16]) -> String {
    format!("rpb-v1-{user_hash}-be-{}.sock", to_hex(random))
}

/// The program name a v2 front door uses without `--program` (v2 spec V2N).
pub const DEFAULT_FRONT_DOOR_PROGRAM: &str = "broker-v2-scaffold";

/// Where a v2 front door for one program lives (v2 spec V2N-1, V2N-2, V2W-6,
/// V2P): computed from the environment, the uid and the program alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoorPaths {
    /// The control socket (V2N-1).
    pub socket: PathBuf,
    /// The runtime directory: identity files and the `.http_port` file (V2N-2).
    pub runtime_dir: PathBuf,
    /// The program name `P`.
    pub program: String,
}

impl FrontDoorPaths {
    /// The paths for `program`, for `uid` on the machine whose id is
    /// `machine_id` (§13's per-user hash). `XDG_RUNTIME_DIR` decides both
    /// directories; without it the socket goes under `/tmp/running-process-<uid>`
    /// and the runtime directory under `$XDG_CACHE_HOME` (default `$HOME/.cache`).
    pub fn resolve(env: &dyn EnvSource, uid: u32, machine_id: &str, program: &str) -> Self {
        let name = format!("rpb-v2-{program}-{}-0.sock", user_hash(uid, machine_id));
        let (socket_dir, runtime_dir) = match env.var("XDG_RUNTIME_DIR") {
            Some(runtime) => {
                let dir = Path::new(&runtime)
                    .join("running-process")
                    .join("broker-v2");
                (dir.clone(), dir)
            }
            None => {
                let cache = env
                    .var("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        Path::new(&env.var("HOME").unwrap_or_default()).join(".cache")
                    });
                (
                    PathBuf::from(format!("/tmp/running-process-{uid}")).join("broker-v2"),
                    cache.join("running-process").join("broker-v2"),
                )
            }
        };
        Self {
            socket: socket_dir.join(name),
            runtime_dir,
            program: program.to_owned(),
        }
    }

    /// A published daemon's identity file (V2P).
    pub fn identity_file(&self, service: &str) -> PathBuf {
        self.runtime_dir.join(format!("daemon-{service}.json"))
    }

    /// The HTTP discovery file of a front door (V2W-6).
    pub fn http_port_file(&self) -> PathBuf {
        self.runtime_dir
            .join(format!("broker-v2-{}.http_port", self.program))
    }
}

/// The HTTP discovery file of a launching broker: `<control socket>.http_port`
/// (v2 spec V2W-14).
pub fn launching_http_port_file(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".http_port");
    PathBuf::from(name)
}

/// The default socket of the shared broker for this user and machine.
#[cfg(unix)]
pub fn default_broker_socket(env: &dyn EnvSource) -> io::Result<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    Ok(broker_dir(env, uid).join(broker_socket_name(
        &user_hash(uid, &machine_id()?),
        &BrokerSocket::Shared,
    )))
}

/// Checks that `path` fits in a Unix socket address.
pub fn check_socket_path_len(path: &Path) -> io::Result<()> {
    let len = path.as_os_str().len();
    if len >= SUN_PATH_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "socket path {} is {len} bytes; Unix socket paths must be shorter than {SUN_PATH_MAX}",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn names_follow_section_13() {
        let s = user_hash(1000, "0123456789abcdef0123456789abcdef");
        assert_eq!(s.len(), 16);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(
            broker_socket_name(&s, &BrokerSocket::Shared),
            format!("rpb-v1-{s}-shared.sock")
        );
        assert_eq!(
            broker_socket_name(&s, &BrokerSocket::Private("zccache".into())),
            format!("rpb-v1-{s}-svc-zccache.sock")
        );
        assert_eq!(
            backend_socket_name(&s, &[0xab; 16]),
            format!("rpb-v1-{s}-be-{}.sock", "ab".repeat(16))
        );
    }

    #[test]
    fn broker_dir_prefers_xdg_runtime_dir_and_ignores_it_when_empty() {
        let env = MapEnv::from_pairs([("XDG_RUNTIME_DIR", "/run/user/7")]);
        assert_eq!(
            broker_dir(&env, 7),
            PathBuf::from("/run/user/7/running-process/broker")
        );
        let empty = MapEnv::from_pairs([("XDG_RUNTIME_DIR", "")]);
        assert_eq!(
            broker_dir(&empty, 7),
            PathBuf::from("/tmp/running-process-7/broker")
        );
    }

    #[test]
    fn front_door_paths_follow_v2n() {
        let s = user_hash(1000, "m");
        let env = MapEnv::from_pairs([("XDG_RUNTIME_DIR", "/run/user/1000")]);
        let paths = FrontDoorPaths::resolve(&env, 1000, "m", "zc");
        let dir = PathBuf::from("/run/user/1000/running-process/broker-v2");
        assert_eq!(paths.socket, dir.join(format!("rpb-v2-zc-{s}-0.sock")));
        assert_eq!(paths.runtime_dir, dir);
        assert_eq!(paths.identity_file("svc"), dir.join("daemon-svc.json"));
        assert_eq!(paths.http_port_file(), dir.join("broker-v2-zc.http_port"));

        let env = MapEnv::from_pairs([("HOME", "/home/u")]);
        let paths = FrontDoorPaths::resolve(&env, 1000, "m", "zc");
        assert_eq!(
            paths.socket,
            PathBuf::from(format!(
                "/tmp/running-process-1000/broker-v2/rpb-v2-zc-{s}-0.sock"
            ))
        );
        assert_eq!(
            paths.runtime_dir,
            PathBuf::from("/home/u/.cache/running-process/broker-v2")
        );
        let env = MapEnv::from_pairs([("HOME", "/home/u"), ("XDG_CACHE_HOME", "/c")]);
        assert_eq!(
            FrontDoorPaths::resolve(&env, 1000, "m", "zc").runtime_dir,
            PathBuf::from("/c/running-process/broker-v2")
        );
    }

    #[test]
    fn a_launching_brokers_discovery_file_sits_beside_its_socket() {
        assert_eq!(
            launching_http_port_file(Path::new("/tmp/x/b.sock")),
            PathBuf::from("/tmp/x/b.sock.http_port")
        );
    }

    #[test]
    fn overlong_socket_paths_are_rejected() {
        assert!(check_socket_path_len(Path::new("/tmp/x.sock")).is_ok());
        assert!(check_socket_path_len(&PathBuf::from("/".repeat(108))).is_err());
    }
}
