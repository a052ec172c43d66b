//! The peer a case runs as another uid (SEC-1): one Hello, answered or not.
//! It takes the arguments of `broker-conformance hello` that such steps
//! use — `hello --timeout-ms N --service S --version V --socket PATH` —
//! and exits as that command does: 0 Negotiated, 1 Refused, 2 no answer.
//! A libtest harness binary plays it, so an implementer's `cargo test`
//! needs no `broker-conformance` executable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::client::{ConnectRequest, hello_frame};
use crate::proto::v1::hello_reply;

/// What one peer Hello needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerArgs {
    socket: PathBuf,
    service: String,
    version: String,
    timeout: Duration,
}

/// Reads `hello --timeout-ms N --service S --version V --socket PATH`.
fn parse(args: &[String]) -> Result<PeerArgs, String> {
    let mut words = args.iter();
    if words.next().map(String::as_str) != Some("hello") {
        return Err("usage: hello --timeout-ms N --service S --version V --socket PATH".into());
    }
    let (mut socket, mut service, mut version, mut timeout) = (None, None, None, None);
    while let Some(flag) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--socket" => socket = Some(PathBuf::from(value)),
            "--service" => service = Some(value),
            "--version" => version = Some(value),
            "--timeout-ms" => {
                let ms = value
                    .parse()
                    .map_err(|_| format!("--timeout-ms {value:?} is not a number"))?;
                timeout = Some(Duration::from_millis(ms));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(PeerArgs {
        socket: socket.ok_or("--socket is required")?,
        service: service.ok_or("--service is required")?,
        version: version.ok_or("--version is required")?,
        timeout: timeout.unwrap_or(Duration::from_secs(5)),
    })
}

/// Runs the peer with this process's arguments.
pub(crate) fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("peer: {e}");
            return ExitCode::from(2);
        }
    };
    let request = ConnectRequest {
        timeout: Some(args.timeout),
        ..ConnectRequest::new(&args.socket, &args.service, &args.version)
    };
    match hello_frame(&args.socket, &request.hello_frame(1), args.timeout) {
        Ok(done) => match done.reply.result {
            Some(hello_reply::Result::Negotiated(_)) => ExitCode::SUCCESS,
            Some(hello_reply::Result::Refused(refused)) => {
                println!("refused: {}", refused.reason);
                ExitCode::from(1)
            }
            None => ExitCode::from(2),
        },
        Err(e) => {
            eprintln!("peer: Hello to {}: {e}", args.socket.display());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_hello_arguments_of_a_uid_step_parse_and_anything_else_is_refused() {
        let args = parse(&words(
            "hello --timeout-ms 5000 --service svc --version 1.0.0 --socket /tmp/b.sock",
        ));
        assert_eq!(
            args,
            Ok(PeerArgs {
                socket: "/tmp/b.sock".into(),
                service: "svc".into(),
                version: "1.0.0".into(),
                timeout: Duration::from_millis(5000),
            })
        );
        assert!(parse(&words("admin --socket /x")).is_err());
        assert!(
            parse(&words("hello --service svc --version 1.0.0"))
                .is_err_and(|e| e.contains("--socket"))
        );
        assert!(
            parse(&words("hello --timeout-ms soon")).is_err_and(|e| e.contains("not a number"))
        );
        assert!(parse(&words("hello --socket")).is_err_and(|e| e.contains("needs a value")));
    }
}
