//! The cases that need the broker as a process of its own, against the
//! reference broker run by `broker-conformance serve`: ENV-3's descriptor
//! exhaustion and its record (every `fd-pressure` case: `needs =
//! ["broker-process"]` lowers its RLIMIT_NOFILE), and SHUTDOWN's record of
//! the backends it stops (every `evt.shutdown-` case), which only a process
//! shows: an embedded broker's runtime outlives its SHUTDOWN and records
//! late deaths anyway. `tests/conformance.rs` embeds the broker in the test
//! process, where the first are skipped.

fn main() -> std::process::ExitCode {
    let cli = env!("CARGO_BIN_EXE_broker-conformance");
    broker_conformance::harness::Harness::command(format!(
        "'{cli}' serve --socket {{socket}} --service-def-dir {{service_def_dir}} \
         --event-log {{event_log}} --stop-backends-on-exit"
    ))
    .label("reference (process)")
    .reference(true)
    .filter("fd-pressure")
    .filter("evt.shutdown-")
    .cli(cli)
    .run_libtest()
}
