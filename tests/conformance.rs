//! The conformance suite against the built-in reference broker, one named
//! test per case (`cargo test --test conformance -- frm.`), through the
//! public library harness an implementer uses. The reference broker must
//! pass every case, so it has no expected-failure list.

fn main() -> std::process::ExitCode {
    broker_conformance::harness::Harness::built_in().run_libtest()
}
