//! `fake-backend`: a scriptable backend executable for broker tests. See
//! `broker_conformance::fake_backend` and `fake-backend --help`.

fn main() -> std::process::ExitCode {
    broker_conformance::fake_backend::cli::main()
}
