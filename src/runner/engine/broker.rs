//! Steps on the broker itself: file modes (SEC-2), a peer of another uid
//! (SEC-1), its stop (ADM-7), its event log (EVT-1…EVT-3) and running it
//! out of descriptors (ENV-3).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CaseRun, DEFAULT_WAIT, Restore, deadline};
use crate::events::{read_log, verify_log};
use crate::runner::judge::{Binding, Failure, Judgement, judge_event_log};
use crate::runner::model::{
    EventLogSpec, ExhaustFdsSpec, FileSpec, SocketModesSpec, StoppedSpec, UidSpec,
};
use crate::stress::fd_exhaustion::run_fd_exhaustion;
use crate::stress::{DEFAULT_FD_HEADROOM, FdExhaustionConfig};

impl CaseRun<'_> {
    /// Sets `path`'s mode until the case ends.
    pub(super) fn chmod(&mut self, path: &Path, mode: u32) -> Result<(), Failure> {
        let old = std::fs::metadata(path)
            .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?
            .permissions()
            .mode()
            & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Failure::new(format!("chmod {}: {e}", path.display())))?;
        self.restores.push(Restore {
            path: path.to_path_buf(),
            mode: old,
        });
        self.trace.push(
            "-",
            "note",
            &[],
            format!("chmod {mode:o} {}", path.display()),
        );
        Ok(())
    }

    pub(super) fn send_as_uid(&mut self, spec: &UidSpec) -> Result<(), Failure> {
        let socket = self.env.socket.clone();
        let dir = socket.parent().map(Path::to_path_buf).unwrap_or_default();
        // Let the other uid reach the socket at all; SEC-1 must then stop it.
        self.chmod(&dir, 0o711)?;
        self.chmod(&socket, 0o666)?;
        if self.env.front_door.is_some() {
            self.open_ancestors(&dir)?;
        }
        let mut command = Command::new(&self.env.helper_exe);
        command
            .args([
                "hello",
                "--timeout-ms",
                "5000",
                "--service",
                &spec.hello.service,
                "--version",
                &spec.hello.version,
                "--socket",
            ])
            .arg(&socket)
            .uid(spec.uid)
            .gid(spec.uid)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = command
            .output()
            .map_err(|e| Failure::new(format!("running a peer as uid {}: {e}", spec.uid)))?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        self.trace.push(
            "-",
            "note",
            &[],
            format!(
                "peer as uid {} exited {:?}: {said}",
                spec.uid,
                output.status.code()
            ),
        );
        // A reply printed counts as answered whatever the exit code (a front
        // door's Negotiated with an empty backend_pipe exits 2 in `hello`).
        let code = output.status.code();
        let answered = matches!(code, Some(0 | 1))
            || (code == Some(2) && said.lines().any(|l| l.trim_start().starts_with("reply: ")));
        match code {
            _ if answered => Err(Failure {
                message: format!("the broker answered a peer with uid {} (SEC-1)", spec.uid),
                detail: said,
            }),
            Some(2) => Ok(()),
            other => Err(Failure {
                message: format!("the peer process ended with {other:?}"),
                detail: said,
            }),
        }
    }

    /// Lets every uid traverse the private directories above a front
    /// door's socket directory (its runtime directory lies below the
    /// runner's private scratch directory), up to `/tmp`; restored after the case.
    fn open_ancestors(&mut self, dir: &Path) -> Result<(), Failure> {
        for ancestor in dir.ancestors().skip(1) {
            if ancestor == Path::new("/tmp") || ancestor == Path::new("/") {
                break;
            }
            let mode = std::fs::metadata(ancestor)
                .map_err(|e| Failure::new(format!("{}: {e}", ancestor.display())))?
                .permissions()
                .mode()
                & 0o7777;
            if mode & 0o011 != 0o011 {
                self.chmod(ancestor, mode | 0o011)?;
            }
        }
        Ok(())
    }

    pub(super) fn expect_stopped(&mut self, spec: &StoppedSpec) -> Result<(), Failure> {
        let until = deadline(spec.within_ms);
        let socket = self.env.socket.clone();
        loop {
            let gone = !socket.exists();
            let refused = UnixStream::connect(&socket).is_err();
            if gone && refused {
                self.trace.push(
                    "-",
                    "note",
                    &[],
                    "the socket file is gone and nothing accepts",
                );
                return Ok(());
            }
            if Instant::now() > until {
                return Err(Failure::new(format!(
                    "the broker still {} after {} ms",
                    if gone {
                        "accepts connections"
                    } else {
                        "has its socket file"
                    },
                    spec.within_ms.unwrap_or(DEFAULT_WAIT.as_millis() as u64)
                )));
            }
            // A broker's exit is not announced on any channel we hold: look again shortly.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(super) fn expect_event_log(&mut self, spec: &EventLogSpec) -> Result<(), Failure> {
        let path = self.env.event_log.clone().ok_or_else(|| {
            Failure::new("the broker's event log is not known (the case needs event-log)")
        })?;
        self.judge_until(spec.eventually, deadline(spec.within_ms), |run| {
            let scan = read_log(&path)
                .map_err(|e| Failure::new(format!("reading {}: {e}", path.display())))?;
            let verdict = match spec.intact {
                Some(_) => Some(
                    verify_log(&path)
                        .map_err(|e| Failure::new(format!("verifying {}: {e}", path.display())))?,
                ),
                None => None,
            };
            run.trace.push(
                "-",
                "note",
                &[],
                format!(
                    "event log {}: {} records",
                    path.display(),
                    scan.records.len()
                ),
            );
            Ok(judge_event_log(
                spec,
                &scan.records,
                verdict.as_ref(),
                &run.captures,
            ))
        })
    }

    /// A file the broker wrote where the case told it to (`{tmp}`), read as
    /// JSON and judged pointer by pointer.
    pub(super) fn expect_file(&mut self, spec: &FileSpec) -> Result<(), Failure> {
        let path = spec
            .path
            .replace("{tmp}", &self.tmp.path().to_string_lossy());
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Failure::new(format!("reading {path}: {e}")))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Failure::new(format!("{path} is not JSON: {e}")))?;
        self.trace.push(
            "-",
            "note",
            &[],
            format!("read {path}: {} bytes", text.len()),
        );
        let mut judgement = Judgement::default();
        judgement.json_pointers(&json, &spec.json, Binding::Must, &self.captures);
        self.accept(judgement)
    }

    pub(super) fn expect_socket_modes(&mut self, spec: &SocketModesSpec) -> Result<(), Failure> {
        let mode_of = |p: &Path| {
            std::fs::symlink_metadata(p)
                .map(|m| m.permissions().mode() & 0o7777)
                .map_err(|e| Failure::new(format!("{}: {e}", p.display())))
        };
        let socket = self.env.socket.clone();
        let dir = mode_of(socket.parent().unwrap_or(Path::new("/")))?;
        let file = mode_of(&socket)?;
        if dir != spec.dir.0 || file != spec.socket.0 {
            return Err(Failure::new(format!(
                "socket directory mode {dir:o} (expected {}), socket mode {file:o} (expected {})",
                spec.dir, spec.socket
            )));
        }
        Ok(())
    }
}

/// Bound on a connect and on each reply while the broker is out of descriptors.
const FD_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Slack on the Hello deadline for the broker to answer normally again.
const FD_RECOVERY_SLACK: Duration = Duration::from_secs(2);

impl CaseRun<'_> {
    /// ENV-3 through the stress tool's fd-exhaustion phase: the case's broker
    /// runs out of descriptors, the Hellos then waiting must be refused
    /// FD_PRESSURE, and once they are gone it must answer normally again.
    pub(super) fn exhaust_fds(&mut self, spec: &ExhaustFdsSpec) -> Result<(), Failure> {
        let process = self.env.process.ok_or_else(|| {
            Failure::new("the case has no broker of its own (it needs fresh-broker)")
        })?;
        let pid = process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pid()
            .ok_or_else(|| {
                Failure::new("the case's broker is not a process the runner started (it needs broker-process)")
            })?;
        let config = FdExhaustionConfig {
            headroom: spec.headroom.unwrap_or(DEFAULT_FD_HEADROOM).max(1),
            reply_timeout: FD_REPLY_TIMEOUT,
            recovery: self.env.hello_timeout + FD_RECOVERY_SLACK,
        };
        let (tally, findings) = run_fd_exhaustion(&self.env.socket, pid, config, 0);
        self.trace.push(
            "-",
            "note",
            &[],
            format!(
                "descriptor limit {} ({}reached: peak {} open), {} connections held: \
                 {} FD_PRESSURE, {} other replies, {} unanswered; normal answers again after {}",
                tally.limit,
                if tally.reached_limit() { "" } else { "never " },
                tally.peak_fds,
                tally.held,
                tally.fd_pressure,
                tally.other_replies,
                tally.unanswered,
                tally
                    .recovered_ms
                    .map_or_else(|| "never".to_owned(), |ms| format!("{ms:.1} ms")),
            ),
        );
        self.accept(Judgement {
            problems: findings
                .iter()
                .map(|f| format!("{}: {}", f.clause, f.message))
                .collect(),
            ..Judgement::default()
        })
    }
}
