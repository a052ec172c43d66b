//! `broker-conformance serve --v2` as its own process (v2 spec §1-§7):
//! Hellos with and without a published daemon, the exact reply bytes of
//! §15 vector B, the singleton (75), stale takeover, SIGTERM and `--once`
//! (exit codes and cleanup), `--no-bind`, the program check, usage errors,
//! the root check, the in-flight cap, the Hello deadline and concurrency.

#![cfg(unix)]

mod support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use broker_conformance::broker::front_door::{
    BoundFrontDoor, DaemonIdentity, ExeHashAlgorithm, FrontDoorOptions, FrontDoorSettings,
    IpcEndpoint, Served,
};
use broker_conformance::client::ClientError;
use broker_conformance::client::front_door::{
    FRONT_DOOR_TIMEOUT, FrontDoorAnswer, front_door_hello,
};
use broker_conformance::env::MapEnv;
use broker_conformance::paths::{FrontDoorPaths, boot_id, machine_id};
use broker_conformance::proto::v1::ErrorCode;
use broker_conformance::sys::{euid, terminate};
use broker_conformance::wire::env_vars;
use support::broker::short_tempdir;
use support::serve::{ServeProcess, Watched, binary, run_to_end, wait_child};

const PROGRAM: &str = "zc";

/// A private runtime directory, home and 0700 definition directory.
struct Setup {
    dir: tempfile::TempDir,
    defs: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let dir = short_tempdir();
        let defs = dir.path().join("defs");
        fs::create_dir(&defs).expect("defs");
        fs::set_permissions(&defs, fs::Permissions::from_mode(0o700)).expect("chmod");
        Self { dir, defs }
    }

    /// Where the front door for [`PROGRAM`] lives (V2N-1, V2N-2).
    fn paths(&self) -> FrontDoorPaths {
        let env =
            MapEnv::from_pairs([("XDG_RUNTIME_DIR", self.dir.path().to_str().expect("utf-8"))]);
        let uid = rustix::process::getuid().as_raw();
        FrontDoorPaths::resolve(&env, uid, &machine_id().expect("machine id"), PROGRAM)
    }

    /// `serve --v2 --program zc` with spec §13's environment, root allowed.
    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--v2", "--program", PROGRAM])
            .args(extra)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env("HOME", self.dir.path())
            .env(env_vars::SERVICE_DEF_DIR, &self.defs)
            .env(env_vars::ALLOW_PRIVILEGED, "1")
            .env_remove(env_vars::HELLO_TIMEOUT_MS)
            .env_remove(env_vars::MAX_INFLIGHT_HANDLERS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    }

    /// Starts it and waits (bounded) for its bound line.
    fn start(&self, command: Command) -> ServeProcess {
        let mut door = ServeProcess::start_watching(
            command,
            &self.paths().socket,
            Watched::Stdout,
            "bound at",
        );
        assert!(door.stderr.iter().any(|l| l.contains(&format!(
            "broker-conformance serve --v2 bound at {} (program={PROGRAM}, mode=",
            self.paths().socket.display()
        ))));
        door.stderr.clear();
        door
    }

    /// Starts it with one more variable set.
    fn start_with_env(&self, name: &str, value: &str) -> ServeProcess {
        let mut cmd = self.command(&[]);
        cmd.env(name, value);
        self.start(cmd)
    }

    /// Writes §15 vector C as `<service>.servicedef.v2`.
    fn define(&self, service: &str) {
        let mut body = vec![0x0a, service.len() as u8];
        body.extend_from_slice(service.as_bytes());
        body.extend_from_slice(&[0x12, 0x10]);
        body.extend_from_slice(b"/usr/bin/zccache");
        fs::write(self.defs.join(format!("{service}.servicedef.v2")), body).expect("define");
    }

    /// Vector C with `52 00` appended: `http_server` declared, empty (§6).
    fn define_http_server(&self, service: &str) {
        self.define(service);
        let path = self.defs.join(format!("{service}.servicedef.v2"));
        let mut bytes = fs::read(&path).expect("read");
        bytes.extend([0x52, 0x00]);
        fs::write(&path, bytes).expect("write");
    }

    /// Publishes `daemon-<service>.json` for `pid` (V2P-1).
    fn publish(&self, service: &str, pid: u32, exe: &Path, pipe: &str) {
        let identity = DaemonIdentity {
            pid,
            exe_path: exe.to_path_buf(),
            exe_hash_algorithm: ExeHashAlgorithm::Blake3,
            exe_hash: [0; 32],
            boot_id: boot_id().expect("boot id"),
            ipc_endpoint: IpcEndpoint {
                namespace_id: String::new(),
                path: pipe.into(),
            },
            started_at_unix_ms: 1,
            legacy_exe_sha256: None,
            idle_timeout_secs: None,
        };
        let text = serde_json::to_string(&identity).expect("json");
        fs::write(self.paths().identity_file(service), text).expect("publish");
    }

    fn hello(&self, service: &str) -> Result<FrontDoorAnswer, ClientError> {
        front_door_hello(&self.paths().socket, service, "1.11.20", FRONT_DOOR_TIMEOUT)
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

fn pipe_of(answer: Result<FrontDoorAnswer, ClientError>) -> String {
    match answer {
        Ok(FrontDoorAnswer::Backend { pipe, .. }) => pipe.display().to_string(),
        Ok(FrontDoorAnswer::NoBackendYet { negotiated }) => {
            assert_eq!(negotiated.backend_pipe, "");
            String::new()
        }
        Err(e) => panic!("expected Negotiated: {e}"),
    }
}

/// Sends raw bytes and reads until the front door closes (bounded).
fn exchange_raw(socket: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

#[test]
fn hellos_hand_out_a_live_published_pipe_and_otherwise_no_backend_yet() {
    let setup = Setup::new();
    let door = setup.start(setup.command(&[]));
    let paths = setup.paths();
    assert_eq!(mode(&paths.runtime_dir), 0o700, "V2N-4");
    assert_eq!(mode(&paths.socket), 0o600, "V2N-4");
    assert!(matches!(
        setup.hello("zccache"),
        Err(ClientError::Refused {
            code: ErrorCode::ErrorServiceUnknown,
            ..
        })
    ));
    // V2D-1: a file written while it runs counts from the next Hello.
    setup.define("zccache");
    assert_eq!(
        pipe_of(setup.hello("zccache")),
        "",
        "V2G-2: no identity file"
    );
    // V2G-4: this test process is alive, on this boot, running this exe.
    let me = std::env::current_exe().expect("exe");
    setup.publish("zccache", std::process::id(), &me, "/run/d/zc.sock");
    assert_eq!(pipe_of(setup.hello("zccache")), "/run/d/zc.sock");
    setup.publish(
        "zccache",
        std::process::id(),
        Path::new("/usr/bin/other"),
        "/x",
    );
    assert_eq!(
        pipe_of(setup.hello("zccache")),
        "",
        "V2G-4: another executable"
    );
    fs::write(paths.identity_file("zccache"), "{}").expect("write");
    assert_eq!(
        pipe_of(setup.hello("zccache")),
        "",
        "V2P-1: invalid counts as absent"
    );
    // V2H-5: a v1 file is never consulted.
    fs::write(setup.defs.join("old.servicedef"), b"\x0a\x03old").expect("v1");
    assert!(matches!(
        setup.hello("old"),
        Err(ClientError::Refused {
            code: ErrorCode::ErrorServiceUnknown,
            ..
        })
    ));
    // V2D-3: a definition directory open to others makes every file unloadable.
    fs::set_permissions(&setup.defs, fs::Permissions::from_mode(0o777)).expect("chmod");
    assert!(matches!(
        setup.hello("zccache"),
        Err(ClientError::Refused {
            code: ErrorCode::ErrorServiceUnknown,
            reason,
            ..
        }) if reason.starts_with("service definition could not be loaded: ")
    ));
    drop(door);
}

#[test]
fn vector_b_is_answered_as_upstream_apart_from_daemon_version() {
    let setup = Setup::new();
    let _door = setup.start(setup.command(&[]));
    setup.define("zccache");
    let request = hex("011c0000000801221608011001 1a077a636361636865 2207312e31312e3230 2801");
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    let mut negotiated = vec![0x08, 0x01, 0x12, version.len() as u8];
    negotiated.extend_from_slice(version);
    let mut reply_body = vec![0x0a, negotiated.len() as u8];
    reply_body.extend(negotiated);
    let mut body = vec![0x08, 0x01, 0x10, 0x01, 0x22, reply_body.len() as u8];
    body.extend(reply_body);
    body.extend([0x28, 0x01]);
    let mut expected = vec![0x01];
    expected.extend((body.len() as u32).to_le_bytes());
    expected.extend(body);
    assert_eq!(exchange_raw(&setup.paths().socket, &request), expected);
    // Vector A as well.
    assert_eq!(
        exchange_raw(&setup.paths().socket, &[0x02]),
        hex(
            "012b000000 08011001 2225 1223 0a1b 756e737570706f72746564206672616d696e672076657273696f6e 1001 1801 2001"
        )
    );
}

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn v2l1_a_second_start_exits_75_and_the_first_keeps_serving() {
    let setup = Setup::new();
    let _door = setup.start(setup.command(&[]));
    setup.define("zccache");
    let (status, _) = run_to_end(setup.command(&[]), Duration::from_secs(30));
    assert_eq!(status.code(), Some(75));
    assert!(setup.paths().socket.exists());
    assert_eq!(pipe_of(setup.hello("zccache")), "");
}

#[test]
fn v2l2_a_socket_left_by_kill_9_is_taken_over() {
    let setup = Setup::new();
    let mut first = setup.start(setup.command(&[]));
    first.child.kill().expect("SIGKILL");
    let _ = first.wait_exit(Duration::from_secs(30));
    assert!(setup.paths().socket.exists(), "left behind");
    let _second = setup.start(setup.command(&[]));
    setup.define("zccache");
    assert_eq!(pipe_of(setup.hello("zccache")), "");
}

#[test]
fn v2l3_sigterm_removes_the_socket_and_discovery_file_and_exits_0() {
    let setup = Setup::new();
    let mut door = setup.start(setup.command(&["--http-port", "dynamic"]));
    let paths = setup.paths();
    fs::write(paths.http_port_file(), "127.0.0.1:1\n").expect("discovery file");
    terminate(door.pid()).expect("SIGTERM");
    assert_eq!(door.wait_exit(Duration::from_secs(30)).code(), Some(0));
    assert!(!paths.socket.exists());
    assert!(!paths.http_port_file().exists());
}

#[test]
fn v2l5_once_exits_0_when_negotiated_and_1_otherwise_and_v2l9_sigterm_cleans_up() {
    let setup = Setup::new();
    setup.define("zccache");
    let mut door = setup.start(setup.command(&["--once"]));
    assert_eq!(pipe_of(setup.hello("zccache")), "");
    assert_eq!(door.wait_exit(Duration::from_secs(30)).code(), Some(0));
    assert!(!setup.paths().socket.exists());

    let mut door = setup.start(setup.command(&["--once"]));
    assert!(setup.hello("nosuch").is_err());
    assert_eq!(door.wait_exit(Duration::from_secs(30)).code(), Some(1));

    let mut door = setup.start(setup.command(&["--once"]));
    terminate(door.pid()).expect("SIGTERM");
    assert_eq!(door.wait_exit(Duration::from_secs(30)).code(), Some(0));
    assert!(!setup.paths().socket.exists(), "V2L-9");
}

/// Runs `serve --v2` with `args` to its end: exit code and stdout.
fn run_front_door(setup: &Setup, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = setup.command(&[]);
    cmd.args(args).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let status = wait_child(&mut child, Duration::from_secs(30));
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out);
    (status.code(), out)
}

#[test]
fn v2l4_no_bind_usage_and_program_exit_codes() {
    let setup = Setup::new();
    let socket_dir = setup.dir.path().join("running-process");
    // The last --program wins (V2L-10); --no-bind exits 0 before checking it.
    let (code, _) = run_front_door(&setup, &["--program", "BAD", "--no-bind"]);
    assert_eq!(code, Some(0), "--no-bind");
    assert!(!socket_dir.exists(), "--no-bind binds nothing");
    for usage in [
        &["--help"][..],
        &["--program=x"],
        &["--program"],
        &["--http-port", "65536"],
        &["--bogus"],
    ] {
        assert_eq!(run_front_door(&setup, usage).0, Some(2), "{usage:?}");
    }
    for bad in ["BAD", "a/b", ""] {
        let (code, out) = run_front_door(&setup, &["--program", bad]);
        assert_eq!(code, Some(1), "V2N-3 for {bad:?}");
        assert!(!out.contains("bound at"));
    }
    assert!(!socket_dir.exists(), "V2N-3: nothing bound");
}

#[test]
fn v2l4_root_needs_exactly_1_to_start() {
    if euid() != 0 {
        eprintln!("skipped: V2L-4's 77 needs root to be observed (CI runs as root)");
        return;
    }
    let setup = Setup::new();
    for value in [None, Some("yes"), Some("0")] {
        let mut cmd = setup.command(&[]);
        match value {
            None => cmd.env_remove(env_vars::ALLOW_PRIVILEGED),
            Some(v) => cmd.env(env_vars::ALLOW_PRIVILEGED, v),
        };
        let (status, _) = run_to_end(cmd, Duration::from_secs(30));
        assert_eq!(status.code(), Some(77), "{value:?}");
    }
    assert!(!setup.paths().socket.exists());
}

#[test]
fn v2n4_a_wide_runtime_directory_is_refused() {
    let setup = Setup::new();
    let dir = setup.paths().runtime_dir;
    fs::create_dir_all(&dir).expect("dir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    let (status, stderr) = run_to_end(setup.command(&[]), Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!setup.paths().socket.exists());
}

#[test]
fn v2l6_an_idle_peer_does_not_delay_another_clients_reply() {
    let setup = Setup::new();
    let _door = setup.start(setup.command(&[]));
    setup.define("zccache");
    let _idle = UnixStream::connect(setup.paths().socket).expect("idle peer");
    // Bounded by V2K-3's 3 s, well inside the 30 s Hello deadline.
    assert_eq!(pipe_of(setup.hello("zccache")), "");
}

#[test]
fn v2l7_a_connection_beyond_the_cap_is_closed_unanswered_and_serving_goes_on() {
    let setup = Setup::new();
    let _door = setup.start_with_env(env_vars::MAX_INFLIGHT_HANDLERS, "1");
    setup.define("zccache");
    let socket = setup.paths().socket;
    let idle = UnixStream::connect(&socket).expect("idle peer holds the one slot");
    let beyond = exchange_raw(&socket, &[]);
    assert!(beyond.is_empty(), "closed without a reply: {beyond:?}");
    drop(idle);
    // The slot frees once the idle connection's handler ends.
    negotiate_eventually(&setup, "zccache");
}

/// Hellos until one is negotiated, failing after 30 s.
fn negotiate_eventually(setup: &Setup, service: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match setup.hello(service) {
            Ok(answer) => {
                assert_eq!(pipe_of(Ok(answer)), "");
                return;
            }
            Err(e) if Instant::now() < deadline => eprintln!("not yet: {e}"),
            Err(e) => panic!("the front door stopped serving: {e}"),
        }
    }
}

#[test]
fn v2l8_running_out_of_descriptors_does_not_end_the_front_door() {
    let setup = Setup::new();
    let log = setup.dir.path().join("stderr.log");
    let mut cmd = setup.command(&[]);
    cmd.stderr(fs::File::create(&log).expect("log"));
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limit.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let limit = libc::rlimit {
                rlim_cur: 32,
                rlim_max: 32,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _door = setup.start(cmd);
    setup.define("zccache");
    // More silent connections than it has descriptors for.
    let held: Vec<UnixStream> = (0..100)
        .map(|_| UnixStream::connect(setup.paths().socket).expect("connect"))
        .collect();
    drop(held);
    // Answering this means every earlier connection was accepted first.
    negotiate_eventually(&setup, "zccache");
    let log = fs::read_to_string(&log).unwrap_or_default();
    assert!(log.contains("accept failed; still serving"), "{log}");
}

#[test]
fn v2f3_an_unfinished_frame_is_refused_at_the_hello_deadline() {
    let setup = Setup::new();
    let _door = setup.start_with_env(env_vars::HELLO_TIMEOUT_MS, "200");
    let reply = exchange_raw(&setup.paths().socket, &[0x01, 0x10]);
    let reason = b"incomplete Hello frame";
    assert!(
        reply.windows(reason.len()).any(|w| w == reason),
        "{reply:02x?}"
    );
}

#[test]
fn v2w15_only_negotiated_services_declaring_http_server_are_listed() {
    let setup = Setup::new();
    let options = FrontDoorOptions {
        program: PROGRAM.into(),
        once: false,
        no_bind: false,
        http_port: None,
    };
    let settings = FrontDoorSettings {
        hello_timeout: Duration::from_secs(30),
        max_inflight: 8,
        allow_privileged: true,
        service_def_dir: Some(setup.defs.clone()),
    };
    let env = MapEnv::from_pairs([("XDG_RUNTIME_DIR", setup.dir.path().to_str().expect("utf-8"))]);
    let door = BoundFrontDoor::bind(&options, settings, &env).expect("bind");
    let listed = door.listed();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(door.serve(async {
            let _ = stopped.await;
        }))
    });
    setup.define("plain");
    setup.define_http_server("web");
    assert!(
        setup.hello("nosuch").is_err(),
        "a refused Hello adds nothing"
    );
    assert_eq!(pipe_of(setup.hello("plain")), "");
    assert_eq!(pipe_of(setup.hello("web")), "", "V2D-2: the same reply");
    assert_eq!(pipe_of(setup.hello("web")), "");
    let names: Vec<String> = listed.entries().into_iter().map(|e| e.service).collect();
    assert_eq!(names, ["web"]);
    stop.send(()).expect("stop");
    let served = server.join().expect("server thread");
    assert!(matches!(served, Ok(Served::Stopped)), "{served:?}");
    assert!(!setup.paths().socket.exists());
}
