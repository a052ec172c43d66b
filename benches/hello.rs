//! Hello round trips — connect, Hello, reply, close — through the
//! reference broker (run as its own process, `broker-conformance serve`),
//! beside the raw baseline: a do-nothing Unix-socket server process
//! (`broker-conformance raw-server`) doing the same connect + request +
//! reply + close. With `UPSTREAM_BROKER` naming a
//! `running-process-broker-v1`, upstream runs the same scenarios; with
//! `BEFORE_BROKER` naming another build of `broker-conformance` (say, the
//! one before a change), that build's reference broker does too, so a
//! change is measured before and after in one run.
//!
//! Criterion times each scenario (median and spread); then every scenario
//! is sampled interleaved for p50/p99/p99.9 and ratios to the baseline,
//! printed and written to `target/bench-reports/hello.json`.
//!
//! Bench ids are the conformance cases these exchanges are:
//! `hel.service-unknown` (Hello → Refused) and
//! `reg.same-key-reuses-backend` (Hello → Negotiated, registry hit).

use std::hint::black_box;
use std::path::{Path, PathBuf};

use broker_conformance::perf::Exchange;
use broker_conformance::perf::{ECHO_SERVICE, Lab, LabBroker};
use broker_conformance::perf::{Sampling, Scenario, interleaved, report_dir, samples_from_env};
use criterion::{Criterion, criterion_group, criterion_main};

const REFUSED: &str = "hel.service-unknown";
const NEGOTIATED: &str = "reg.same-key-reuses-backend";
const BASELINE: &str = "baseline/raw-round-trip";
/// Exchanges of one scenario in a row before the next scenario's turn.
const BLOCK: usize = 50;

/// Everything the scenarios run against.
struct Setup {
    raw: LabBroker,
    brokers: Vec<LabBroker>,
    // Last: dropping it kills the backends the brokers launched.
    _lab: Lab,
}

fn setup() -> Result<Setup, String> {
    let exe = Path::new(env!("CARGO_BIN_EXE_broker-conformance"));
    let lab =
        Lab::new(Path::new(env!("CARGO_BIN_EXE_broker-conformance"))).map_err(|e| e.to_string())?;
    let mut brokers = vec![lab.start_reference(exe).map_err(|e| e.to_string())?];
    if let Some(before) = std::env::var_os("BEFORE_BROKER") {
        let template = format!(
            "'{}' serve --socket {{socket}} --service-def-dir {{service_def_dir}} --log-level warn",
            Path::new(&before).display()
        );
        brokers.push(
            lab.start_command("reference-before", &template)
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(upstream) = std::env::var_os("UPSTREAM_BROKER") {
        brokers.push(
            lab.start_upstream(&PathBuf::from(upstream))
                .map_err(|e| e.to_string())?,
        );
    }
    // The baseline answers with the reference broker's own refusal bytes.
    let mut probe = refused_exchange()?;
    probe.run(brokers[0].socket()).map_err(|e| e.to_string())?;
    let reply = framed(probe.last_reply());
    let raw = lab.start_raw(exe, &reply, 1).map_err(|e| e.to_string())?;
    // First Hellos launch the backends: the timed ones are registry hits.
    for broker in &brokers {
        negotiated_exchange()?
            .run(broker.socket())
            .map_err(|e| format!("{}: launching {ECHO_SERVICE}: {e}", broker.name()))?;
    }
    Ok(Setup {
        raw,
        brokers,
        _lab: lab,
    })
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = broker_conformance::wire::framing::encode_header(body.len() as u32).to_vec();
    out.extend_from_slice(body);
    out
}

fn refused_exchange() -> Result<Exchange, String> {
    Exchange::hello("nobody-bench", "1.0.0").map_err(|e| e.to_string())
}

fn negotiated_exchange() -> Result<Exchange, String> {
    Exchange::hello(ECHO_SERVICE, "1.0.0").map_err(|e| e.to_string())
}

/// The scenarios: the baseline first, then each broker's two exchanges.
fn scenarios(setup: &Setup) -> Result<Vec<(String, PathBuf, Exchange)>, String> {
    let mut out = vec![(
        BASELINE.to_owned(),
        setup.raw.socket().to_path_buf(),
        refused_exchange()?,
    )];
    for broker in &setup.brokers {
        out.push((
            format!("{}/{REFUSED}", broker.name()),
            broker.socket().to_path_buf(),
            refused_exchange()?,
        ));
        out.push((
            format!("{}/{NEGOTIATED}", broker.name()),
            broker.socket().to_path_buf(),
            negotiated_exchange()?,
        ));
    }
    Ok(out)
}

fn hello(c: &mut Criterion) {
    let setup = match setup() {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!("hello bench: cannot set up: {e}");
            return;
        }
    };
    let mut scenarios = match scenarios(&setup) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hello bench: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("hello");
    for (id, socket, exchange) in &mut scenarios {
        group.bench_function(id.as_str(), |b| b.iter(|| black_box(exchange.run(socket))));
    }
    group.finish();

    let mut sampled: Vec<Scenario<'_>> = scenarios
        .iter_mut()
        .map(|(id, socket, exchange)| {
            Scenario::new(id.clone(), move || {
                exchange.run(socket).map(drop).map_err(|e| e.to_string())
            })
        })
        .collect();
    let samples = samples_from_env(5000);
    match interleaved(
        &format!("hello: {samples} exchanges per scenario, interleaved in blocks of {BLOCK}"),
        &mut sampled,
        Sampling::blocks(samples, BLOCK),
    ) {
        Ok(comparison) => {
            println!("\n{}", comparison.table());
            for broker in &setup.brokers {
                if broker.name() == "reference" {
                    continue;
                }
                for case in [REFUSED, NEGOTIATED] {
                    let ours = comparison.get(&format!("reference/{case}"));
                    let theirs = comparison.get(&format!("{}/{case}", broker.name()));
                    if let (Some(ours), Some(theirs)) = (ours, theirs) {
                        let r = theirs.ratio_to(ours);
                        println!(
                            "  {case}: {} is {:.2}x the reference at p50, {:.2}x at p99",
                            broker.name(),
                            r.p50,
                            r.p99
                        );
                    }
                }
            }
            let path = report_dir().join("hello.json");
            if let Err(e) = comparison.write_json(&path) {
                eprintln!("hello bench: writing {}: {e}", path.display());
            }
        }
        Err(e) => eprintln!("hello bench: sampling failed: {e}"),
    }
}

criterion_group!(benches, hello);
criterion_main!(benches);
