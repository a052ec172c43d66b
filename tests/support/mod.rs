//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// A small deterministic generator (SplitMix64) for property-style tests:
/// the same seed gives the same cases on every run and machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    pub fn ascii(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
}

/// The `broker-conformance` binary, ready for arguments.
pub fn cli_command() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("broker-conformance").expect("binary")
}

/// Runs `command`; returns its exit code, stdout and stderr.
pub fn cli_output(command: &mut assert_cmd::Command) -> (Option<i32>, String, String) {
    let output = command.output().expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// This crate's `golden/` directory.
pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

#[cfg(unix)]
pub mod broker {
    //! Standing up brokers, fake backends and raw exchanges for broker tests.

    use std::fs;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use broker_conformance::definitions::{ServiceDefinitionBuilder, write_service_definition};
    use broker_conformance::proto::v1::{
        AdminReply, AdminRequest, Frame, Hello, HelloReply, Negotiated, Refused, hello_reply,
    };
    use broker_conformance::wire::frames::{admin_request, hello_request};
    use broker_conformance::wire::framing::blocking::{read_frame, write_frame};
    use broker_conformance::wire::{MAX_FRAME_BYTES, decode_payload};

    /// A short temporary directory (socket paths must stay under 108 bytes).
    pub fn short_tempdir() -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("t.")
            .tempdir_in("/tmp")
            .expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        dir
    }

    /// Installs the `fake-backend` executable as `<root>/bin/<name>/fake-backend`
    /// and returns (binary, per-version dir).
    pub fn install_fake_backend(root: &Path, name: &str) -> (PathBuf, PathBuf) {
        let dir = root.join("bin").join(name);
        fs::create_dir_all(&dir).expect("bin dir");
        let binary = dir.join("fake-backend");
        let source = Path::new(env!("CARGO_BIN_EXE_broker-conformance"));
        if fs::hard_link(source, &binary).is_err() {
            fs::copy(source, &binary).expect("copy fake-backend");
        }
        (binary, dir)
    }

    /// Writes a v1 definition of `service` served by `binary` into `dir`.
    pub fn define(dir: &Path, service: &str, binary: &Path, per_version_dir: &Path) {
        let def = ServiceDefinitionBuilder::new(service)
            .binary_path(binary)
            .per_version_binary_dir(per_version_dir)
            .build()
            .expect("valid definition");
        write_service_definition(dir, &def).expect("definition written");
    }

    /// A Hello for `service` / `version` with protocol range 1..1.
    pub fn hello(service: &str, version: &str) -> Hello {
        Hello {
            client_min_protocol: 1,
            client_max_protocol: 1,
            service_name: service.into(),
            wanted_version: version.into(),
            ..Hello::default()
        }
    }

    /// Connects with a read timeout so a missing reply fails the test instead of hanging it.
    pub fn connect(endpoint: &Path) -> UnixStream {
        let stream = UnixStream::connect(endpoint).expect("connect to the broker");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
    }

    /// Sends one frame and reads the reply frame.
    pub fn exchange(endpoint: &Path, frame: &Frame) -> Frame {
        let mut stream = connect(endpoint);
        write_frame(&mut stream, frame).expect("send");
        read_frame(&mut stream, MAX_FRAME_BYTES).expect("reply frame")
    }

    /// Sends raw bytes and reads whatever comes back until the broker closes.
    pub fn exchange_raw(endpoint: &Path, bytes: &[u8]) -> Vec<u8> {
        let mut stream = connect(endpoint);
        stream.write_all(bytes).expect("send");
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut out);
        out
    }

    /// The HelloReply of one Hello exchange.
    pub fn hello_reply_for(endpoint: &Path, hello: &Hello) -> HelloReply {
        let reply = exchange(endpoint, &hello_request(hello, 7));
        decode_payload(&reply).expect("HelloReply")
    }

    /// The Negotiated of a Hello expected to succeed.
    pub fn negotiate(endpoint: &Path, hello: &Hello) -> Negotiated {
        match hello_reply_for(endpoint, hello).result {
            Some(hello_reply::Result::Negotiated(n)) => n,
            other => panic!(
                "expected Negotiated for {}@{}, got {other:?}",
                hello.service_name, hello.wanted_version
            ),
        }
    }

    /// The Refused of a Hello expected to fail.
    pub fn refused(endpoint: &Path, hello: &Hello) -> Refused {
        match hello_reply_for(endpoint, hello).result {
            Some(hello_reply::Result::Refused(r)) => r,
            other => panic!(
                "expected Refused for {}@{}, got {other:?}",
                hello.service_name, hello.wanted_version
            ),
        }
    }

    /// One admin exchange.
    pub fn admin(endpoint: &Path, request: &AdminRequest) -> AdminReply {
        let reply = exchange(endpoint, &admin_request(request, 3));
        decode_payload(&reply).expect("AdminReply")
    }

    /// Fails unless every fake backend that recorded into `records` is gone
    /// completely: exited and reaped (a zombie still exists for kill(0)).
    pub fn assert_all_reaped(records: &Path) {
        let pids: Vec<u32> = broker_conformance::fake_backend::read_records(records)
            .expect("records")
            .into_iter()
            .map(|(pid, _)| pid)
            .collect();
        let left: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| broker_conformance::sys::process_exists(*p))
            .collect();
        assert!(left.is_empty(), "LCH-5: not reaped: {left:?} of {pids:?}");
    }
}

#[cfg(unix)]
pub mod serve {
    //! `broker-conformance serve` as a child process, for tests that need a
    //! broker in its own process (exit codes, signals, descriptor limits).

    use std::io::{BufRead, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use broker_conformance::wire::env_vars;

    /// Which output of a child announces that it is ready.
    #[derive(Debug, Clone, Copy)]
    pub enum Watched {
        /// Standard output.
        Stdout,
        /// Standard error.
        Stderr,
    }

    /// A `serve` child; killed when dropped.
    pub struct ServeProcess {
        pub child: Child,
        pub socket: PathBuf,
        watched_lines: mpsc::Receiver<String>,
        pub stderr: Vec<String>,
    }

    /// The `broker-conformance` executable.
    pub fn binary() -> &'static str {
        env!("CARGO_BIN_EXE_broker-conformance")
    }

    /// A `serve` command for `socket` with definitions in `defs`, root allowed.
    pub fn serve_command(socket: &Path, defs: &Path) -> Command {
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--socket")
            .arg(socket)
            .arg("--service-def-dir")
            .arg(defs)
            .arg("--log-level")
            .arg("info")
            .env(env_vars::ALLOW_PRIVILEGED, "1")
            .env_remove(env_vars::SERVICE_DEF_DIR)
            .env_remove(env_vars::HELLO_TIMEOUT_MS)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    impl ServeProcess {
        /// Spawns `command` and waits (bounded) for its "serving" log line.
        pub fn start(command: Command, socket: &Path) -> Self {
            Self::start_watching(command, socket, Watched::Stderr, "serving")
        }

        /// Spawns `command` and waits (bounded) for a line containing
        /// `needle` on the `watched` stream, which must be piped; its
        /// lines are then read by [`wait_for_line`](Self::wait_for_line).
        pub fn start_watching(
            mut command: Command,
            socket: &Path,
            watched: Watched,
            needle: &str,
        ) -> Self {
            let mut child = command.spawn().expect("spawn serve");
            let stream: Box<dyn std::io::Read + Send> = match watched {
                Watched::Stderr => Box::new(child.stderr.take().expect("stderr piped")),
                Watched::Stdout => Box::new(child.stdout.take().expect("stdout piped")),
            };
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut process = Self {
                child,
                socket: socket.to_path_buf(),
                watched_lines: rx,
                stderr: Vec::new(),
            };
            process.wait_for_line(needle, Duration::from_secs(30));
            process
        }

        /// Waits for a stderr line containing `needle`.
        pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.watched_lines.recv_timeout(left) {
                    Ok(line) => {
                        self.stderr.push(line.clone());
                        if line.contains(needle) {
                            return line;
                        }
                    }
                    Err(_) => panic!(
                        "no stderr line with {needle:?}; got:\n{}",
                        self.stderr.join("\n")
                    ),
                }
            }
        }

        /// Waits (bounded) for the process to exit.
        pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
            wait_child(&mut self.child, timeout)
        }

        /// The child's pid.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }
    }

    impl Drop for ServeProcess {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Waits for `child` to exit, killing it and failing after `timeout`.
    pub fn wait_child(child: &mut Child, timeout: Duration) -> ExitStatus {
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        // waitpid blocks; do it on a thread so the wait has a deadline.
        let handle = std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: waitpid on our own child's pid with a valid out pointer.
            let rc = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
            let _ = tx.send((rc, status));
        });
        match rx.recv_timeout(timeout) {
            Ok((rc, status)) if rc == pid as i32 => {
                let _ = handle.join();
                std::os::unix::process::ExitStatusExt::from_raw(status)
            }
            _ => {
                let _ = child.kill();
                panic!("process {pid} did not exit within {timeout:?}");
            }
        }
    }

    /// Runs a command to completion (bounded) and returns its status and stderr.
    pub fn run_to_end(mut command: Command, timeout: Duration) -> (ExitStatus, String) {
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = command.spawn().expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
            text
        });
        let status = wait_child(&mut child, timeout);
        (status, reader.join().unwrap_or_default())
    }
}
