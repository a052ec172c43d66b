//! The broker a command works against, as `run` and `stress` take it:
//! a command template, a broker already listening, or the built-in
//! reference broker.

use std::path::PathBuf;

use clap::Args;

use broker_conformance::testbed::BrokerUnderTest;

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Start the broker under test from this command; `{socket}`,
    /// `{service_def_dir}` and `{event_log}` (a file the broker appends
    /// lifecycle events to; cases needing the log run only when it is
    /// given) are substituted. Without it (and without --socket) the
    /// built-in reference broker is used.
    #[arg(long, conflicts_with = "socket")]
    pub broker_cmd: Option<String>,
    /// Use a broker already listening here (needs --service-def-dir).
    #[arg(long, requires = "service_def_dir")]
    pub socket: Option<PathBuf>,
    /// The definition directory that broker reads; services are written there.
    #[arg(long)]
    pub service_def_dir: Option<PathBuf>,
    /// The implementation's name in reports [default: the command's program, or "reference"].
    #[arg(long)]
    pub label: Option<String>,
}

impl TargetArgs {
    /// The broker these flags name.
    pub fn broker_under_test(&self) -> BrokerUnderTest {
        match (&self.broker_cmd, &self.socket, &self.service_def_dir) {
            (Some(template), _, _) => BrokerUnderTest::command(template),
            (None, Some(socket), Some(definitions)) => {
                BrokerUnderTest::endpoint(socket, definitions)
            }
            _ => BrokerUnderTest::built_in(),
        }
    }
}
