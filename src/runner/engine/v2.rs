//! v2 steps (v2 spec): identity files in a front door's runtime directory
//! (V2P), the HTTP surface through `ureq` and through raw TCP (V2W), its
//! discovery file, and a front door's lifecycle (V2L). The shell reads and
//! acts; [`crate::runner::judge::http`] decides.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::{CaseRun, DEFAULT_WAIT, deadline};
use crate::runner::judge::{Failure, HttpResponse, discovery_address, judge_http};
use crate::runner::matching::Actual;
use crate::runner::model::{
    ExitSpec, HttpSpec, IdentityFilesSpec, IdentityPid, IdentitySpec, PortFileSpec, Process,
    SignalName, SignalSpec, StartFrontDoorSpec, TcpReplySpec, TcpSendSpec,
};
use crate::testbed::{
    FrontDoorPlaces, IdentityFacts, StartOptions, identity_json, pad_identity, wait_until_bound,
};

/// How often a file the runner waits for is looked at again (nothing
/// announces a file's creation on a channel the runner holds).
const FILE_POLL: Duration = Duration::from_millis(10);

impl CaseRun<'_> {
    fn places(&self) -> Result<&FrontDoorPlaces, Failure> {
        self.env.front_door.as_ref().ok_or_else(|| {
            Failure::new("the target is not a v2 front door (run --kind front-door)")
        })
    }

    /// The HTTP discovery file: a front door's `broker-v2-<P>.http_port`
    /// (V2W-6), else the launching broker's `<socket>.http_port` (V2W-14).
    fn http_port_file(&self) -> PathBuf {
        self.env.front_door.as_ref().map_or_else(
            || crate::paths::launching_http_port_file(&self.env.socket),
            |p| p.paths.http_port_file(),
        )
    }

    /// The discovery file's content, waited for until `until`.
    fn read_port_file(&self, until: Instant) -> Result<String, Failure> {
        let path = self.http_port_file();
        loop {
            match std::fs::read_to_string(&path) {
                Ok(text) if text.ends_with('\n') => return Ok(text),
                _ if Instant::now() > until => {
                    return Err(Failure::new(format!(
                        "no HTTP discovery file {} appeared",
                        path.display()
                    )));
                }
                _ => std::thread::sleep(FILE_POLL),
            }
        }
    }

    fn http_address(&self, until: Instant) -> Result<SocketAddr, Failure> {
        let content = self.read_port_file(until)?;
        discovery_address(&content).map_err(|e| Failure::new(format!("discovery file: {e}")))
    }

    pub(super) fn write_identity(&mut self, spec: &IdentitySpec) -> Result<(), Failure> {
        let path = self.places()?.paths.identity_file(&spec.service);
        if spec.fifo {
            return self.make_fifo(&path);
        }
        let content = match &spec.raw {
            Some(raw) => raw.clone(),
            None => {
                let facts = identity_facts(spec.pid)?;
                identity_json(&facts, &spec.pipe, &spec.set, &spec.remove)
                    .map_err(|e| Failure::new(e.to_string()))?
            }
        };
        let content = match spec.pad_to {
            Some(len) => pad_identity(&content, len).ok_or_else(|| {
                Failure::new(format!(
                    "write_identity.pad_to = {len}: the file is already {} bytes \
                     (or not one JSON object)",
                    content.len()
                ))
            })?,
            None => content,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(format!("creating {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, &content)
            .map_err(|e| Failure::new(format!("writing {}: {e}", path.display())))?;
        self.trace.push(
            "-",
            "note",
            &[],
            format!(
                "wrote {} ({} bytes): {content}",
                path.display(),
                content.len()
            ),
        );
        self.identities.insert(spec.service.clone(), content);
        Ok(())
    }

    /// A FIFO at `path` (its directory created): a reader's open blocks.
    fn make_fifo(&mut self, path: &std::path::Path) -> Result<(), Failure> {
        use rustix::fs::{CWD, FileType, Mode, mknodat};
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(format!("creating {}: {e}", dir.display())))?;
        }
        mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
            .map_err(|e| Failure::new(format!("mkfifo {}: {e}", path.display())))?;
        self.trace.push(
            "-",
            "note",
            &[],
            format!("made the FIFO {}", path.display()),
        );
        Ok(())
    }

    pub(super) fn expect_identity_files(
        &mut self,
        spec: &IdentityFilesSpec,
    ) -> Result<(), Failure> {
        let paths = self.places()?.paths.clone();
        let mut problems = Vec::new();
        for service in &spec.unchanged {
            let path = paths.identity_file(service);
            let written = self.identities.get(service).ok_or_else(|| {
                Failure::new(format!("no write_identity step wrote {service}'s file"))
            })?;
            match std::fs::read_to_string(&path) {
                Ok(now) if &now == written => {}
                Ok(now) => problems.push(format!("{} was rewritten: {now:?}", path.display())),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        for service in &spec.absent {
            let path = paths.identity_file(service);
            if path.exists() {
                problems.push(format!("{} was created", path.display()));
            }
        }
        match problems.first() {
            None => Ok(()),
            Some(first) => Err(Failure {
                message: first.clone(),
                detail: problems.join("\n"),
            }),
        }
    }

    pub(super) fn expect_http(&mut self, spec: &HttpSpec) -> Result<(), Failure> {
        let until = deadline(spec.within_ms);
        let address = self.http_address(until)?;
        let url = format!("http://{address}{}", spec.path);
        // The state comes from a backend's own report: `eventually` asks again.
        self.judge_until(spec.eventually, until, |run| {
            let response = http_request(&spec.method, &url, until)?;
            run.trace.push(
                "http",
                "note",
                &[],
                format!("{} {url} -> {}", spec.method, response.status),
            );
            Ok(judge_http(spec, &response, &run.captures))
        })
    }

    pub(super) fn tcp_send(&mut self, spec: &TcpSendSpec) -> Result<(), Failure> {
        if !self.tcp.contains_key(&spec.on) {
            let address = self.http_address(deadline(None))?;
            let stream = TcpStream::connect_timeout(&address, DEFAULT_WAIT)
                .map_err(|e| Failure::new(format!("connecting {} to {address}: {e}", spec.on)))?;
            self.trace
                .push(&spec.on, "note", &[], format!("TCP connected to {address}"));
            self.tcp.insert(spec.on.clone(), stream);
        }
        if spec.text.is_empty() {
            return Ok(());
        }
        let stream = self
            .tcp
            .get_mut(&spec.on)
            .ok_or_else(|| Failure::new(format!("no TCP connection {}", spec.on)))?;
        stream
            .write_all(spec.text.as_bytes())
            .map_err(|e| Failure::new(format!("sending on {}: {e}", spec.on)))?;
        self.trace
            .push(&spec.on, "send", spec.text.as_bytes(), "raw HTTP");
        Ok(())
    }

    pub(super) fn expect_tcp_reply(&mut self, spec: &TcpReplySpec) -> Result<(), Failure> {
        let until = deadline(spec.within_ms);
        let stream = self
            .tcp
            .get_mut(&spec.on)
            .ok_or_else(|| Failure::new(format!("no TCP connection {}", spec.on)))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = stream.set_read_timeout(Some(left));
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&got).contains(&spec.contains) {
                break;
            }
        }
        self.trace.push(&spec.on, "recv", &got, "raw HTTP");
        match String::from_utf8_lossy(&got).contains(&spec.contains) {
            true => Ok(()),
            false => Err(Failure {
                message: format!(
                    "{}: no {:?} within {} ms",
                    spec.on,
                    spec.contains,
                    spec.within_ms.unwrap_or(DEFAULT_WAIT.as_millis() as u64)
                ),
                detail: String::from_utf8_lossy(&got).into_owned(),
            }),
        }
    }

    pub(super) fn expect_http_port_file(&mut self, spec: &PortFileSpec) -> Result<(), Failure> {
        let path = self.http_port_file();
        if !spec.present {
            return match path.exists() {
                false => Ok(()),
                true => Err(Failure::new(format!("{} exists", path.display()))),
            };
        }
        let content = self.read_port_file(deadline(spec.within_ms))?;
        self.trace
            .push("-", "note", &[], format!("{}: {content:?}", path.display()));
        let mut judgement = crate::runner::judge::Judgement::default();
        if let Some(expected) = &spec.content {
            judgement.check(
                "discovery file",
                Ok(Actual::Str(content.clone())),
                expected,
                crate::runner::judge::Binding::Must,
                &self.captures,
            );
        }
        if let Err(e) = discovery_address(&content) {
            judgement.problems.push(format!("discovery file: {e}"));
        }
        if let Some(mode) = spec.mode {
            let actual = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o7777)
                .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
            if actual != mode.0 {
                judgement.problems.push(format!(
                    "discovery file mode: expected {mode}, got {actual:o}"
                ));
            }
        }
        self.accept(judgement)
    }

    pub(super) fn start_front_door(&mut self, spec: &StartFrontDoorSpec) -> Result<(), Failure> {
        let places = match spec.socket_dir_mode {
            None => self.places()?.clone(),
            Some(mode) => self.places_with_socket_dir(mode.0)?,
        };
        let extra = StartOptions {
            args: spec.args.clone(),
            env: spec.env.clone().into_iter().collect(),
        };
        let mut child = self
            .env
            .target
            .spawn_front_door(&places, &extra)
            .map_err(|e| Failure::new(format!("starting a front door: {e}")))?;
        self.trace.push(
            "-",
            "note",
            &[],
            format!(
                "started a front door (pid {}) with {:?}",
                child.id(),
                spec.args
            ),
        );
        let within = spec.within_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
        if spec.keep {
            let bound = child
                .stdout
                .take()
                .map(|out| wait_until_bound(out, &places.xdg_runtime));
            let ready = bound.is_some_and(|b| b.recv_timeout(within).is_ok());
            self.started.push(child);
            return match ready {
                true => Ok(()),
                false => Err(Failure::new(format!(
                    "the started front door did not say it was bound within {} ms",
                    within.as_millis()
                ))),
            };
        }
        let status = crate::testbed::wait_within(child, within);
        exit_matches(status, spec.expect_exit, within)
    }

    /// Places for one more front door of the case's program in a runtime
    /// directory of this case's own (in its temporary directory: cases that
    /// run at once never share it), its socket directory made already with
    /// `mode`.
    fn places_with_socket_dir(&self, mode: u32) -> Result<FrontDoorPlaces, Failure> {
        let case = self.places()?;
        let runtime = self.tmp.path().join("rt");
        let places = FrontDoorPlaces::new(&runtime, &case.paths.program);
        let made = |what: &str, e: std::io::Error| Failure::new(format!("making {what}: {e}"));
        let socket_dir = places
            .paths
            .socket
            .parent()
            .unwrap_or(&runtime)
            .to_path_buf();
        for dir in [runtime.join("home"), socket_dir.clone()] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| made(&dir.display().to_string(), e))?;
        }
        std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| made(&format!("{} mode {mode:o}", socket_dir.display()), e))?;
        Ok(places)
    }

    pub(super) fn signal(&mut self, spec: &SignalSpec) -> Result<(), Failure> {
        let signal = match spec.signal {
            SignalName::Term => Signal::TERM,
            SignalName::Int => Signal::INT,
            SignalName::Kill => Signal::KILL,
        };
        let within = spec.within_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
        let status = self.end_process(spec.of, Some(signal), within)?;
        match spec.signal {
            SignalName::Kill => Ok(()),
            _ => exit_matches(status, spec.expect_exit, within),
        }
    }

    pub(super) fn expect_exit(&mut self, spec: &ExitSpec) -> Result<(), Failure> {
        let within = spec.within_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
        let status = self.end_process(spec.of, None, within)?;
        exit_matches(status, Some(spec.code), within)
    }

    /// Sends `signal` (if any) to `which` and waits for its exit.
    fn end_process(
        &mut self,
        which: Process,
        signal: Option<Signal>,
        within: Duration,
    ) -> Result<Option<ExitStatus>, Failure> {
        match which {
            Process::Broker => {
                let process = self.env.process.ok_or_else(|| {
                    Failure::new(
                        "the case has no broker process of its own (it needs fresh-broker)",
                    )
                })?;
                let mut instance = process.lock().unwrap_or_else(|e| e.into_inner());
                instance
                    .signal_and_wait(signal, within)
                    .map_err(|e| Failure::new(e.to_string()))
            }
            Process::Started => {
                let child: Child = self
                    .started
                    .pop()
                    .ok_or_else(|| Failure::new("no front door was started and kept"))?;
                if let Some(signal) = signal {
                    crate::sys::signal(child.id(), signal)
                        .map_err(|e| Failure::new(format!("signalling: {e}")))?;
                }
                Ok(crate::testbed::wait_within(child, within))
            }
        }
    }
}

/// The exit `status` (`None`: still running after `within`) against the expected code.
fn exit_matches(
    status: Option<ExitStatus>,
    expected: Option<i32>,
    within: Duration,
) -> Result<(), Failure> {
    let Some(status) = status else {
        return Err(Failure::new(format!(
            "the front door did not exit within {} ms",
            within.as_millis()
        )));
    };
    match expected {
        Some(code) if status.code() != Some(code) => Err(Failure::new(format!(
            "the front door exited with {status}, expected exit code {code}"
        ))),
        _ => Ok(()),
    }
}

/// One HTTP request through `ureq`, bounded by `until`; any status is a response.
fn http_request(method: &str, url: &str, until: Instant) -> Result<HttpResponse, Failure> {
    let left = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(left))
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .body(())
        .map_err(|e| Failure::new(format!("building {method} {url}: {e}")))?;
    let mut response = agent
        .run(request)
        .map_err(|e| Failure::new(format!("{method} {url}: {e}")))?;
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| Failure::new(format!("reading the body of {method} {url}: {e}")))?;
    Ok(HttpResponse {
        status: response.status().as_u16(),
        headers,
        body,
    })
}

/// The facts of the process an identity file names.
fn identity_facts(pid: IdentityPid) -> Result<IdentityFacts, Failure> {
    let boot_id = crate::paths::boot_id().map_err(|e| Failure::new(format!("boot id: {e}")))?;
    let started_at_unix_ms = crate::sys::unix_now_ms();
    match pid {
        IdentityPid::Runner => {
            let exe = std::fs::read_link("/proc/self/exe")
                .map_err(|e| Failure::new(format!("/proc/self/exe: {e}")))?;
            let exe_hash = crate::sys::blake3_file(&exe)
                .map_err(|e| Failure::new(format!("hashing {}: {e}", exe.display())))?;
            Ok(IdentityFacts {
                pid: std::process::id(),
                exe_path: exe.display().to_string(),
                exe_hash,
                boot_id,
                started_at_unix_ms,
            })
        }
        IdentityPid::Dead => {
            let exe = PathBuf::from("/bin/true");
            let child = std::process::Command::new(&exe)
                .spawn()
                .map_err(|e| Failure::new(format!("starting {}: {e}", exe.display())))?;
            let pid = child.id();
            crate::testbed::wait_within(child, DEFAULT_WAIT)
                .ok_or_else(|| Failure::new("a short-lived process did not exit"))?;
            Ok(IdentityFacts {
                pid,
                exe_path: exe.display().to_string(),
                exe_hash: crate::sys::blake3_file(&exe).unwrap_or_default(),
                boot_id,
                started_at_unix_ms,
            })
        }
        IdentityPid::Init => Ok(IdentityFacts {
            pid: 1,
            exe_path: "/sbin/init".into(),
            exe_hash: [0; 32],
            boot_id,
            started_at_unix_ms,
        }),
    }
}
