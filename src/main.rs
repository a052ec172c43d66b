//! The `broker-conformance` command: see `broker-conformance --help`.

fn main() -> std::process::ExitCode {
    broker_conformance::cli::main()
}
