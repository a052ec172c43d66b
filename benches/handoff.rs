//! Handoff latency (HOF): a Hello with handoff, then the first reply from
//! the backend on the adopted socket — against a Hello, then a new
//! connection to `backend_pipe` and its first reply — against the raw
//! baseline: a connect round trip to a do-nothing server process plus one
//! raw `SCM_RIGHTS` pass of 16 bytes and a descriptor to that process.
//!
//! The reference broker runs as its own process and launches fake-backend
//! echo services: `fake-handoff-accept` (handoff label) and `fake-echo`.
//! Criterion times each path; then all are sampled interleaved for
//! p50/p99 and ratios, printed and written to `target/bench-reports/handoff.json`.
//!
//! Bench ids are the conformance cases these paths are:
//! `hof.accepted-handoff-event` (handoff) and `neg.backend-pipe-serves`
//! (reconnect).

use std::hint::black_box;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use broker_conformance::client::{
    BackendConnection, ClientSettings, ConnectRequest, Route, connect,
};
use broker_conformance::perf::Exchange;
use broker_conformance::perf::pass_fd;
use broker_conformance::perf::{ECHO_SERVICE, HANDOFF_SERVICE, Lab, LabBroker};
use broker_conformance::perf::{Sampling, Scenario, interleaved, report_dir, samples_from_env};
use broker_conformance::proto::v1::{Frame, FrameKind};
use broker_conformance::wire::PAYLOAD_PROTOCOL_ZCCACHE;
use broker_conformance::wire::framing::encode_frame;
use criterion::{Criterion, criterion_group, criterion_main};

const HANDOFF: &str = "reference/hof.accepted-handoff-event";
const RECONNECT: &str = "reference/neg.backend-pipe-serves";
const BASELINE: &str = "baseline/raw-connect+scm-rights";
/// First exchanges of one path in a row before the next path's turn.
const BLOCK: usize = 50;

/// The application's first request, which the echo backends answer.
fn first_request() -> Result<Vec<u8>, String> {
    encode_frame(&Frame {
        envelope_version: 1,
        kind: FrameKind::Request as i32,
        payload_protocol: PAYLOAD_PROTOCOL_ZCCACHE,
        request_id: 7,
        payload: bytes::Bytes::from_static(b"ping"),
        ..Frame::default()
    })
    .map_err(|e| e.to_string())
}

struct Setup {
    raw: LabBroker,
    /// A standing connection to the raw process's descriptor-pass socket.
    passes: UnixStream,
    reference: LabBroker,
    lab: Lab,
}

fn setup() -> Result<Setup, String> {
    let exe = Path::new(env!("CARGO_BIN_EXE_broker-conformance"));
    let lab =
        Lab::new(Path::new(env!("CARGO_BIN_EXE_broker-conformance"))).map_err(|e| e.to_string())?;
    let reference = lab.start_reference(exe).map_err(|e| e.to_string())?;
    // The raw server answers with what an echo backend would.
    let request = first_request()?;
    let raw = lab.start_raw(exe, &request, 1).map_err(|e| e.to_string())?;
    let passes = UnixStream::connect(lab.raw_fd_socket())
        .map_err(|e| format!("connecting to the raw pass socket: {e}"))?;
    Ok(Setup {
        raw,
        passes,
        reference,
        lab,
    })
}

/// Connects through the broker as an application would, then does the
/// first exchange with the backend; checks the route taken.
fn broker_path(
    request: &ConnectRequest,
    expected: Route,
    first: &mut Exchange,
) -> Result<(), String> {
    let BackendConnection {
        mut stream, route, ..
    } = connect(request, &ClientSettings::default()).map_err(|e| e.to_string())?;
    if route != expected {
        return Err(format!(
            "took the {} route, not {}",
            route.as_str(),
            expected.as_str()
        ));
    }
    first
        .run_on(&mut stream)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The raw floor of a handoff: the client's connection passed once, then a
/// connect round trip.
fn raw_path(raw: &Path, passes: &mut UnixStream, first: &mut Exchange) -> Result<(), String> {
    let mut stream = UnixStream::connect(raw).map_err(|e| e.to_string())?;
    pass_fd(passes, &stream).map_err(|e| e.to_string())?;
    first
        .run_on(&mut stream)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn handoff(c: &mut Criterion) {
    let Setup {
        raw,
        mut passes,
        reference,
        lab,
    } = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("handoff bench: cannot set up: {e}");
            return;
        }
    };
    let request = match first_request() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("handoff bench: {e}");
            return;
        }
    };
    let broker = reference.socket().to_path_buf();
    let adopting = ConnectRequest {
        adopt_handoff: true,
        ..ConnectRequest::new(&broker, HANDOFF_SERVICE, "1.0.0")
    };
    let reconnecting = ConnectRequest::new(&broker, ECHO_SERVICE, "1.0.0");
    let raw_socket: PathBuf = raw.socket().to_path_buf();
    let mut first = [
        Exchange::new(request.clone()),
        Exchange::new(request.clone()),
        Exchange::new(request),
    ];
    // The first connects launch the backends; everything timed is a registry hit.
    for (req, route) in [
        (&adopting, Route::HandlePassed),
        (&reconnecting, Route::BrokerNegotiated),
    ] {
        if let Err(e) = broker_path(req, route, &mut first[0]) {
            eprintln!("handoff bench: warming up {}: {e}", req.service);
            return;
        }
    }

    let mut group = c.benchmark_group("handoff");
    {
        let [raw_first, handoff_first, reconnect_first] = &mut first;
        group.bench_function(BASELINE, |b| {
            b.iter(|| black_box(raw_path(&raw_socket, &mut passes, raw_first)))
        });
        group.bench_function(HANDOFF, |b| {
            b.iter(|| black_box(broker_path(&adopting, Route::HandlePassed, handoff_first)))
        });
        group.bench_function(RECONNECT, |b| {
            b.iter(|| {
                black_box(broker_path(
                    &reconnecting,
                    Route::BrokerNegotiated,
                    reconnect_first,
                ))
            })
        });
    }
    group.finish();

    let [raw_first, handoff_first, reconnect_first] = &mut first;
    let passes = &mut passes;
    let raw_socket = &raw_socket;
    let mut scenarios = vec![
        Scenario::new(BASELINE, move || raw_path(raw_socket, passes, raw_first)),
        Scenario::new(HANDOFF, || {
            broker_path(&adopting, Route::HandlePassed, handoff_first)
        }),
        Scenario::new(RECONNECT, || {
            broker_path(&reconnecting, Route::BrokerNegotiated, reconnect_first)
        }),
    ];
    let samples = samples_from_env(3000);
    match interleaved(
        &format!("handoff: {samples} first exchanges per path, interleaved in blocks of {BLOCK}"),
        &mut scenarios,
        Sampling::blocks(samples, BLOCK),
    ) {
        Ok(comparison) => {
            println!("\n{}", comparison.table());
            if let (Some(h), Some(r)) = (comparison.get(HANDOFF), comparison.get(RECONNECT)) {
                let ratio = h.ratio_to(r);
                println!(
                    "  handoff over reconnect: p50 {:.2}x, p99 {:.2}x (below 1 means handoff is faster)",
                    ratio.p50, ratio.p99
                );
            }
            let path = report_dir().join("handoff.json");
            if let Err(e) = comparison.write_json(&path) {
                eprintln!("handoff bench: writing {}: {e}", path.display());
            }
        }
        Err(e) => eprintln!("handoff bench: sampling failed: {e}"),
    }
    drop(scenarios);
    drop(reference);
    drop(raw);
    drop(lab);
}

criterion_group!(benches, handoff);
criterion_main!(benches);
