//! The cases that need the broker as a process of its own (`needs =
//! ["broker-process"]`: ENV-3's descriptor exhaustion lowers its
//! RLIMIT_NOFILE), against the reference broker run by
//! `broker-conformance serve`. `tests/conformance.rs` embeds the broker in
//! the test process, where those cases are skipped.

fn main() -> std::process::ExitCode {
    let cli = env!("CARGO_BIN_EXE_broker-conformance");
    broker_conformance::harness::Harness::command(format!(
        "'{cli}' serve --socket {{socket}} --service-def-dir {{service_def_dir}} \
         --stop-backends-on-exit"
    ))
    .label("reference (process)")
    .filter("env.fd-pressure")
    .cli(cli)
    .run_libtest()
}
