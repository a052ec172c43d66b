//! Framing throughput: encode, decode, and encode+decode of frames from a
//! Hello-sized body to 16 MiB, through the incremental, blocking and async
//! decoders, each beside a `memcpy` of the same size measured in the same
//! run (the baseline every figure is read against).

use std::hint::black_box;
use std::io::Cursor;

use broker_conformance::golden::Corpus;
use broker_conformance::proto::v1::Frame;
use broker_conformance::wire::framing::{async_io, blocking, decode_frame_body, encode_frame};
use broker_conformance::wire::{FrameDecoder, MAX_FRAME_BYTES};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

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
        ("empty".to_owned(), Frame::default()),
        ("hello".to_owned(), hello_frame()),
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

fn framing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build();
    let Ok(runtime) = runtime else { return };
    for (name, frame) in cases() {
        let Ok(wire) = encode_frame(&frame) else {
            continue;
        };
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
        group.bench_function("encode+decode", |b| {
            b.iter(|| {
                let bytes = encode_frame(black_box(&frame)).unwrap_or_default();
                blocking::read_frame(&mut Cursor::new(bytes), MAX_FRAME_BYTES)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, framing);
criterion_main!(benches);
