//! The measurement tools as users run them: `raw-server` (the baseline
//! every bench divides by) answers with its bytes and takes descriptor
//! passes; `load` drives the reference broker and the baseline and reports
//! both, with the idle connections' memory; bad input fails with context.

#![cfg(unix)]

mod support;

use std::os::unix::net::UnixStream;
use std::path::Path;

use broker_conformance::perf::Lab;
use broker_conformance::perf::pass_fd;
use broker_conformance::perf::{Exchange, hello_request_bytes, read_frame_into};
use broker_conformance::wire::framing::encode_header;
use serde_json::Value;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_broker-conformance"))
}

fn lab() -> Lab {
    Lab::new(Path::new(env!("CARGO_BIN_EXE_broker-conformance"))).expect("lab")
}

#[test]
fn raw_server_answers_every_request_with_its_reply_and_takes_descriptor_passes() {
    let lab = lab();
    let reply = [0x01, 0x02, 0x00, 0x00, 0x00, 0x08, 0x01];
    let raw = lab.start_raw(exe(), &reply, 2).expect("raw-server");
    let mut exchange = Exchange::new(hello_request_bytes("svc", "1.0.0").expect("hello"));
    for _ in 0..3 {
        let len = exchange.run(raw.socket()).expect("exchange");
        assert_eq!(len, 2);
        assert_eq!(exchange.last_reply(), &reply[5..]);
    }
    // Bound before the main socket: ready as soon as the lab said so.
    let mut passes = UnixStream::connect(lab.raw_fd_socket()).expect("pass socket");
    let (mine, _theirs) = UnixStream::pair().expect("pair");
    for _ in 0..3 {
        pass_fd(&mut passes, &mine).expect("one pass, one answer byte");
    }
}

fn load_json(args: &[&str]) -> Value {
    let dir = support::broker::short_tempdir();
    let out = dir.path().join("load.json");
    let (code, _, stderr) = support::cli_output(
        support::cli_command()
            .arg("load")
            .args(args)
            .arg("--json")
            .arg(&out),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let text = std::fs::read_to_string(&out).expect("load wrote its JSON");
    serde_json::from_str(&text).expect("valid JSON")
}

fn rows(report: &Value) -> Vec<&Value> {
    report["rows"].as_array().expect("rows").iter().collect()
}

#[test]
fn load_measures_the_reference_beside_the_raw_baseline_and_prices_idle_connections() {
    let report = load_json(&["--clients", "1,3", "--duration", "0.3", "--idle", "200"]);
    assert_eq!(report["scenario"], "nobody-load 1.0.0");
    let rows = rows(&report);
    let servers: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["server"].as_str().expect("server"),
                r["clients"].as_u64().expect("clients"),
            )
        })
        .collect();
    assert_eq!(
        servers,
        [
            ("baseline/raw", 1),
            ("reference", 1),
            ("baseline/raw", 3),
            ("reference", 3)
        ]
    );
    for row in &rows {
        assert_eq!(row["failed"], 0, "{row}");
        assert!(row["completed"].as_u64().expect("completed") > 0, "{row}");
        assert!(row["per_second"].as_f64().expect("rate") > 0.0, "{row}");
        assert!(row["throughput_vs_baseline"].as_f64().expect("ratio") > 0.0);
        assert!(row["rss_after"].as_u64().expect("rss") > 1 << 20, "{row}");
        let latency = &row["latency"];
        let p50 = latency["p50"].as_f64().expect("p50");
        let p99 = latency["p99"].as_f64().expect("p99");
        assert!(0.0 < p50 && p50 <= p99, "{latency}");
    }
    let idle = &report["idle"];
    assert_eq!(idle["held"], 200);
    let (before, after) = (
        idle["rss_before"].as_u64().expect("before"),
        idle["rss_after"].as_u64().expect("after"),
    );
    assert!(after >= before, "{idle}");
}

#[test]
fn load_can_time_the_negotiated_path_without_a_baseline() {
    let report = load_json(&[
        "--scenario",
        "negotiated",
        "--clients",
        "2",
        "--duration",
        "0.3",
        "--idle",
        "0",
        "--no-baseline",
    ]);
    let rows = rows(&report);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["server"], "reference");
    assert_eq!(rows[0]["failed"], 0, "{}", rows[0]);
    assert!(report["idle"].is_null());
}

/// Runs `broker-conformance` with `args`, expects exit 2, returns its stderr.
fn harness_error(args: &[&std::ffi::OsStr]) -> String {
    let (code, _, stderr) = support::cli_output(support::cli_command().args(args));
    assert_eq!(code, Some(2), "{stderr}");
    stderr
}

#[test]
fn load_against_a_missing_socket_names_it_and_exits_2() {
    let dir = support::broker::short_tempdir();
    let socket = dir.path().join("none.sock");
    let stderr = harness_error(&[
        "load".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
        "--duration".as_ref(),
        "0.1".as_ref(),
        "--idle".as_ref(),
        "0".as_ref(),
    ]);
    assert!(
        stderr.contains(&*socket.to_string_lossy()) && stderr.contains("No such file"),
        "{stderr}"
    );
}

/// A server that answers one exchange and then never accepts again, with a
/// backlog of one: a broker that holds only a couple of connections. The
/// listener lives as long as the returned value.
fn answers_once_then_stalls(socket: &Path) -> std::os::unix::net::UnixListener {
    use std::io::Write as _;
    let listener = broker_conformance::sys::listen_unix_with_backlog(socket, 1).expect("listen");
    let once = listener.try_clone().expect("clone");
    std::thread::spawn(move || {
        let (mut conn, _) = once.accept().expect("accept");
        let mut body = Vec::new();
        read_frame_into(&mut conn, &mut body).expect("request");
        let mut reply = encode_header(2).to_vec();
        reply.extend_from_slice(b"ok");
        conn.write_all(&reply).expect("reply");
    });
    listener
}
#[test]
fn load_against_a_broker_that_stops_accepting_ends_and_reports_what_it_reached() {
    let dir = support::broker::short_tempdir();
    let socket = dir.path().join("b.sock");
    let _listener = answers_once_then_stalls(&socket);
    let out = dir.path().join("load.json");
    let (code, stdout, stderr) = support::cli_output(support::cli_command().args([
        "load".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
        "--no-baseline".as_ref(),
        "--clients".as_ref(),
        "2".as_ref(),
        "--duration".as_ref(),
        "0.2".as_ref(),
        "--idle".as_ref(),
        "50".as_ref(),
        "--idle-timeout".as_ref(),
        "0.3".as_ref(),
        "--json".as_ref(),
        out.as_os_str(),
    ]));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("no progress before the deadline"),
        "{stdout}"
    );
    assert!(stdout.contains("of 50 connections held"), "{stdout}");
    assert!(stdout.contains("not done: "), "{stdout}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("json")).expect("parses");
    let row = rows(&report)[0];
    assert_eq!(row["completed"], 0, "{row}");
    assert!(row["failed"].as_u64().expect("failed") > 0, "{row}");
    let idle = &report["idle"];
    assert_eq!(idle["requested"], 50);
    assert!(idle["held"].as_u64().expect("held") < 50, "{idle}");
    assert!(idle["shortfall"].is_string(), "{idle}");
}

#[test]
fn raw_server_refuses_a_reply_that_is_not_hex() {
    let dir = support::broker::short_tempdir();
    let socket = dir.path().join("r.sock");
    let stderr = harness_error(&[
        "raw-server".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
        "--reply-hex".as_ref(),
        "01zz".as_ref(),
    ]);
    assert!(
        stderr.contains("--reply-hex") && stderr.contains("not a hex digit"),
        "{stderr}"
    );
    assert!(!socket.exists(), "nothing was bound");
}
