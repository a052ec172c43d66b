//! The `broker-conformance` command: see `broker-conformance --help`.
//!
//! Invoked under the name `fake-backend` (the runner installs copies of
//! this program so named), it is the fake backend instead.

fn main() -> std::process::ExitCode {
    let invoked_as = std::env::args_os().next().and_then(|arg0| {
        std::path::Path::new(&arg0)
            .file_name()
            .map(|n| n.to_os_string())
    });
    #[cfg(unix)]
    if invoked_as.as_deref() == Some(std::ffi::OsStr::new("fake-backend")) {
        return broker_conformance::fake_backend::cli::main();
    }
    let _ = invoked_as;
    broker_conformance::cli::main()
}
