//! The v2 front-door cases against the reference front door
//! (`broker-conformance serve --v2`, started as a process from this
//! package's binary), one named test per case (`cargo test --test
//! conformance_front_door -- v2h.`). It must pass every case.

fn main() -> std::process::ExitCode {
    broker_conformance::harness::Harness::built_in()
        .kind(broker_conformance::testbed::TargetKind::FrontDoor)
        .cli(env!("CARGO_BIN_EXE_broker-conformance"))
        .run_libtest()
}
