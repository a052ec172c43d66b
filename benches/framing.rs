//! Framing throughput: encode, decode, and encode+decode of frames from an
//! empty body to 16 MiB, through the incremental, blocking, async and
//! zero-copy decoders, each beside a `memcpy` of the same size measured in
//! the same run (the baseline every figure is read against).
//!
//! After criterion, a summary samples the two targets interleaved — a
//! 1 MiB decode over a 1 MiB memcpy, and a Hello-sized encode + decode —
//! prints them and writes `target/bench-reports/framing.json`.
//!
//! Bench ids: `frm.zero-length-body` (empty) and `frm.minimal-hello-vector`
//! (the spec's Hello vector) are the conformance cases of those frames.

use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use broker_conformance::golden::Corpus;
use broker_conformance::perf::{Sampling, Scenario, interleaved, report_dir, samples_from_env};
use broker_conformance::proto::v1::Frame;
use broker_conformance::wire::framing::{
    async_io, blocking, decode_frame_body, encode_frame, split_frame,
};
use broker_conformance::wire::{FrameDecoder, MAX_FRAME_BYTES};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const HELLO: &str = "frm.minimal-hello-vector";

/// The spec's minimal Hello request, as frozen in golden/.
fn hello_frame() -> Frame {
    let corpus = Corpus::embedded();
    let wire = corpus
        .bytes("v1/wire_hello_minimal")
        .unwrap_or_default()
        .to_vec();
    decode_frame_body(Bytes::copy_from_slice(wire.get(5..).unwrap_or_default())).unwrap_or_default()
}

fn frame_with_payload(len: usize) -> Frame {
    Frame {
        envelope_version: 1,
        payload: Bytes::from(vec![0x5a; len]),
        request_id: 1,
        ..Frame::default()
    }
}

fn cases() -> Vec<(String, Frame)> {
    let mut cases = vec![
        ("frm.zero-length-body".to_owned(), Frame::default()),
        (HELLO.to_owned(), hello_frame()),
    ];
    for (name, len) in [
        ("1KiB", 1 << 10),
        ("64KiB", 64 << 10),
        ("1MiB", 1 << 20),
        ("16MiB", (16 << 20) - 16),
    ] {
        cases.push((name.to_owned(), frame_with_payload(len)));
    }
    cases
}

/// Decodes the first frame of a buffer the caller owns, without copying:
/// the payload is a slice of `wire`.
fn decode_zero_copy(wire: &Bytes) -> Option<Frame> {
    let (body, _) = split_frame(wire, MAX_FRAME_BYTES).ok()?;
    decode_frame_body(body).ok()
}

fn framing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build();
    let Ok(runtime) = runtime else { return };
    for (name, frame) in cases() {
        let Ok(wire) = encode_frame(&frame) else {
            continue;
        };
        let shared = Bytes::from(wire.clone());
        let mut group = c.benchmark_group(format!("framing/{name}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));
        if wire.len() > 1 << 20 {
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::new("baseline", "memcpy"), |b| {
            b.iter(|| black_box(wire.clone()))
        });
        group.bench_function("encode", |b| b.iter(|| encode_frame(black_box(&frame))));
        group.bench_function("decode/incremental", |b| {
            b.iter(|| {
                let mut decoder = FrameDecoder::new();
                let (_, body) = decoder.push(black_box(&wire)).unwrap_or((0, None));
                body.map(decode_frame_body)
            })
        });
        group.bench_function("decode/blocking", |b| {
            b.iter(|| blocking::read_frame(&mut Cursor::new(black_box(&wire)), MAX_FRAME_BYTES))
        });
        group.bench_function("decode/async", |b| {
            b.iter(|| {
                runtime.block_on(async_io::read_frame(
                    &mut black_box(wire.as_slice()),
                    MAX_FRAME_BYTES,
                ))
            })
        });
        group.bench_function("decode/zero-copy", |b| {
            b.iter(|| decode_zero_copy(black_box(&shared)))
        });
        group.bench_function("encode+decode", |b| {
            b.iter(|| {
                let bytes = encode_frame(black_box(&frame)).unwrap_or_default();
                blocking::read_frame(&mut Cursor::new(bytes), MAX_FRAME_BYTES)
            })
        });
        group.finish();
    }
    summary(&runtime);
}

/// Runs `op` `times` times per sample, so short operations are timed in batches.
fn batch(times: usize, mut op: impl FnMut()) -> impl FnMut() -> Result<(), String> {
    move || {
        for _ in 0..times {
            op();
        }
        Ok(())
    }
}

/// The two targets, sampled interleaved against their baselines.
fn summary(runtime: &tokio::runtime::Runtime) {
    let big = frame_with_payload(1 << 20);
    let Ok(wire) = encode_frame(&big) else { return };
    let shared = Bytes::from(wire.clone());
    let hello = hello_frame();
    let sampling = Sampling::blocks(samples_from_env(400), 10);
    let mut one_mib = vec![
        Scenario::new(
            "baseline/memcpy-1MiB",
            batch(1, || drop(black_box(wire.clone()))),
        ),
        Scenario::new(
            "1MiB/decode/incremental",
            batch(1, || {
                let mut decoder = FrameDecoder::new();
                let (_, body) = decoder.push(black_box(&wire)).unwrap_or((0, None));
                drop(black_box(body.map(decode_frame_body)));
            }),
        ),
        Scenario::new(
            "1MiB/decode/blocking",
            batch(1, || {
                drop(black_box(blocking::read_frame(
                    &mut Cursor::new(black_box(&wire)),
                    MAX_FRAME_BYTES,
                )))
            }),
        ),
        Scenario::new(
            "1MiB/decode/async",
            batch(1, || {
                drop(black_box(runtime.block_on(async_io::read_frame(
                    &mut black_box(wire.as_slice()),
                    MAX_FRAME_BYTES,
                ))))
            }),
        ),
        Scenario::new(
            "1MiB/decode/zero-copy",
            batch(1, || drop(black_box(decode_zero_copy(black_box(&shared))))),
        ),
    ];
    const HELLO_BATCH: usize = 1000;
    let mut hello_round = vec![Scenario::new(
        format!("{HELLO}/encode+decode (x{HELLO_BATCH})"),
        batch(HELLO_BATCH, || {
            let bytes = encode_frame(black_box(&hello)).unwrap_or_default();
            drop(black_box(decode_zero_copy(&Bytes::from(bytes))));
        }),
    )];
    match (
        interleaved(
            "framing: 1 MiB decode over a 1 MiB memcpy",
            &mut one_mib,
            sampling,
        ),
        interleaved("framing: Hello encode + decode", &mut hello_round, sampling),
    ) {
        (Ok(big), Ok(small)) => {
            println!("\n{}", big.table());
            let per = small
                .rows
                .first()
                .map_or(Duration::ZERO, |(_, s)| s.p50 / HELLO_BATCH as u32);
            println!(
                "framing: a Hello frame's encode + decode takes {} ns at the median\n",
                per.as_nanos()
            );
            let path = report_dir().join("framing.json");
            if let Err(e) = big.write_json(&path) {
                eprintln!("framing bench: writing {}: {e}", path.display());
            }
        }
        (Err(e), _) | (_, Err(e)) => eprintln!("framing bench: sampling failed: {e}"),
    }
}

criterion_group!(benches, framing);
criterion_main!(benches);
