//! What a v2 front door adds to a command target: where it listens (from
//! `XDG_RUNTIME_DIR` and its program name, V2N-1/V2N-2), and how the runner
//! learns it is bound (the `… bound at <socket> …` line it prints, spec §13).

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::ChildStdout;
use std::sync::mpsc;
use std::thread;

use super::kind::TargetKind;
use crate::env::MapEnv;
use crate::paths::{DEFAULT_FRONT_DOOR_PROGRAM, FrontDoorPaths, machine_id};

/// The program name the suite gives the front doors it starts: short, so
/// the socket path stays far below 108 bytes (V2N-1).
pub const SUITE_PROGRAM: &str = "bct";

/// The marker of the line a front door prints once bound (spec §13).
const BOUND_MARKER: &str = " bound at ";

/// Where a started broker listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A v1 or launching broker: on the `{socket}` the runner picks.
    Socket,
    /// A v2 front door for `program`: on the socket V2N-1 gives.
    FrontDoor {
        /// The program name `P`.
        program: String,
    },
}

impl Layout {
    /// The layout of a `kind` target started by `args`: a front door runs
    /// as [`SUITE_PROGRAM`] when its command names `{program}`, else as the
    /// default program.
    pub fn for_kind(kind: TargetKind, args: &[String]) -> Self {
        match kind {
            TargetKind::FrontDoor => Self::FrontDoor {
                program: if args.iter().any(|a| a.contains("{program}")) {
                    SUITE_PROGRAM
                } else {
                    DEFAULT_FRONT_DOOR_PROGRAM
                }
                .to_owned(),
            },
            TargetKind::V1 | TargetKind::Launching => Self::Socket,
        }
    }

    /// The program name, for front doors.
    pub fn program(&self) -> Option<&str> {
        match self {
            Self::FrontDoor { program } => Some(program),
            Self::Socket => None,
        }
    }

    /// A front door's places under `xdg_runtime`, for front doors.
    pub fn places(&self, xdg_runtime: &Path) -> Option<FrontDoorPlaces> {
        self.program()
            .map(|program| FrontDoorPlaces::new(xdg_runtime, program))
    }
}

/// A started front door's places: its `XDG_RUNTIME_DIR` and what V2N
/// derives from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoorPlaces {
    /// The `XDG_RUNTIME_DIR` it was given.
    pub xdg_runtime: PathBuf,
    /// Its socket, runtime directory and program.
    pub paths: FrontDoorPaths,
}

impl FrontDoorPlaces {
    /// The places of a front door for `program` given `xdg_runtime`.
    pub fn new(xdg_runtime: &Path, program: &str) -> Self {
        let env = MapEnv::from_pairs([("XDG_RUNTIME_DIR", xdg_runtime.to_string_lossy())]);
        let uid = rustix::process::getuid().as_raw();
        let machine = machine_id().unwrap_or_default();
        Self {
            xdg_runtime: xdg_runtime.to_path_buf(),
            paths: FrontDoorPaths::resolve(&env, uid, &machine, program),
        }
    }
}

/// Copies a front door's stdout to `<dir>/broker.out` and reports once the
/// line saying it is bound went by.
pub(crate) fn wait_until_bound(stdout: ChildStdout, dir: &Path) -> mpsc::Receiver<()> {
    let (bound, receiver) = mpsc::channel();
    let mut copy = File::create(dir.join("broker.out")).ok();
    let _ = thread::Builder::new()
        .name("front-door-stdout".into())
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(file) = copy.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                if line.contains(BOUND_MARKER) {
                    let _ = bound.send(());
                }
            }
        });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_front_door_runs_as_the_suite_program_only_when_its_command_names_it() {
        let with = [
            "fd".to_owned(),
            "--program".to_owned(),
            "{program}".to_owned(),
        ];
        assert_eq!(
            Layout::for_kind(TargetKind::FrontDoor, &with).program(),
            Some(SUITE_PROGRAM)
        );
        assert_eq!(
            Layout::for_kind(TargetKind::FrontDoor, &with[..1]).program(),
            Some(DEFAULT_FRONT_DOOR_PROGRAM)
        );
        assert_eq!(Layout::for_kind(TargetKind::V1, &with), Layout::Socket);
    }

    #[test]
    fn places_follow_xdg_runtime_dir() {
        let places = FrontDoorPlaces::new(Path::new("/tmp/x.1"), "bct");
        assert_eq!(
            places.paths.runtime_dir,
            Path::new("/tmp/x.1/running-process/broker-v2")
        );
        assert!(places.paths.socket.starts_with(&places.paths.runtime_dir));
    }
}
