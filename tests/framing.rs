//! Framing: FRM-1…FRM-8 and FRM-12, through the sans-io decoder and the
//! std and tokio shells.

mod support;

use std::io::{Cursor, Read};

use broker_conformance::proto::v1::{Frame, FrameKind};
use broker_conformance::wire::framing::{
    FrameSection, async_io, blocking, decode_frame_body, decode_framed, encode_frame,
    encode_header, split_frame,
};
use broker_conformance::wire::{
    FrameDecoder, FramingError, MAX_FRAME_BYTES, MAX_HELLO_BYTES, Refusal, validate_hello,
};
use bytes::Bytes;
use prost::Message;
use support::Rng;

/// A frame whose encoded body is exactly `body_len` bytes (≥ 8).
fn frame_with_body_len(body_len: usize) -> Frame {
    // envelope_version (2 bytes) + payload tag (1) + length varint + payload.
    let mut payload_len = body_len - 3;
    while 3 + prost::encoding::encoded_len_varint(payload_len as u64) + payload_len > body_len {
        payload_len -= 1;
    }
    let frame = Frame {
        envelope_version: 1,
        payload: Bytes::from(vec![0xab; payload_len]),
        ..Frame::default()
    };
    assert_eq!(
        frame.encoded_len(),
        body_len,
        "test helper must hit the length exactly"
    );
    frame
}

/// The spec's first test vector.
fn minimal_hello_on_the_wire() -> Vec<u8> {
    broker_conformance::inspect::parse_hex(broker_conformance::golden::MINIMAL_HELLO_ON_THE_WIRE)
        .expect("spec vector parses")
}

#[test]
fn exactly_16_mib_body_is_accepted_by_every_reader() {
    let frame = frame_with_body_len(MAX_FRAME_BYTES as usize);
    let wire = encode_frame(&frame).expect("16 MiB is legal (FRM-2)");
    assert_eq!(wire.len(), 5 + MAX_FRAME_BYTES as usize);
    assert_eq!(&wire[..5], &[0x01, 0x00, 0x00, 0x00, 0x01]);

    let mut decoder = FrameDecoder::new();
    let (consumed, body) = decoder.push(&wire).expect("decoder accepts 16 MiB");
    assert_eq!(consumed, wire.len());
    assert_eq!(body.expect("complete").len(), MAX_FRAME_BYTES as usize);

    let read =
        blocking::read_frame(&mut Cursor::new(&wire), MAX_FRAME_BYTES).expect("blocking read");
    assert_eq!(read, frame);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let read = runtime
        .block_on(async_io::read_frame(&mut wire.as_slice(), MAX_FRAME_BYTES))
        .expect("async read");
    assert_eq!(read, frame);
}

/// A reader that serves the header and fails the test if anything more is read.
struct HeaderOnly {
    header: Cursor<Vec<u8>>,
    body_reads: usize,
}

impl Read for HeaderOnly {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.header.read(buf)?;
        if n == 0 {
            self.body_reads += 1;
        }
        Ok(n)
    }
}

#[test]
fn one_byte_over_16_mib_is_rejected_before_the_body_is_read_or_allocated() {
    let header = encode_header(MAX_FRAME_BYTES + 1).to_vec();
    let mut decoder = FrameDecoder::new();
    let err = decoder
        .push(&header)
        .expect_err("16 MiB + 1 is refused (FRM-2)");
    assert!(
        matches!(
            err,
            FramingError::Oversize {
                declared: 16_777_217,
                limit: MAX_FRAME_BYTES
            }
        ),
        "{err}"
    );
    assert_eq!(
        decoder.body_capacity(),
        0,
        "no body memory before the length check"
    );

    let mut reader = HeaderOnly {
        header: Cursor::new(header),
        body_reads: 0,
    };
    let err = blocking::read_frame(&mut reader, MAX_FRAME_BYTES).expect_err("refused");
    assert!(matches!(err, FramingError::Oversize { .. }), "{err}");
    assert_eq!(reader.body_reads, 0, "the body was never read (FRM-5)");

    let too_big = frame_with_body_len(MAX_FRAME_BYTES as usize + 1);
    assert!(matches!(
        encode_frame(&too_big),
        Err(FramingError::Oversize { .. })
    ));
}

#[test]
fn a_custom_limit_is_enforced_the_same_way() {
    let mut decoder = FrameDecoder::with_limit(MAX_HELLO_BYTES);
    assert!(decoder.push(&encode_header(MAX_HELLO_BYTES)).is_ok());
    let mut decoder = FrameDecoder::with_limit(MAX_HELLO_BYTES);
    assert!(matches!(
        decoder.push(&encode_header(MAX_HELLO_BYTES + 1)),
        Err(FramingError::Oversize {
            declared: 65_537,
            ..
        })
    ));
}

#[test]
fn zero_length_body_is_an_all_default_frame_refused_as_not_v1() {
    let mut decoder = FrameDecoder::new();
    let (consumed, body) = decoder
        .push(&[0x01, 0, 0, 0, 0])
        .expect("zero length is legal");
    assert_eq!(consumed, 5);
    let frame = decode_frame_body(body.expect("complete at once")).expect("empty body decodes");
    assert_eq!(frame, Frame::default());
    assert_eq!(frame.envelope_version, 0);
    assert_eq!(
        validate_hello(&frame, 0),
        Err(Refusal::EnvelopeVersion),
        "FRM-6"
    );
}

#[test]
fn truncated_header_and_clean_close_are_told_apart() {
    let err = blocking::read_frame(&mut Cursor::new([0x01, 0x1c, 0x00]), MAX_FRAME_BYTES)
        .expect_err("short");
    assert!(
        matches!(
            err,
            FramingError::Truncated {
                section: FrameSection::Header,
                received: 3,
                expected: 5
            }
        ),
        "{err}"
    );
    assert!(!err.is_clean_close());

    let err = blocking::read_frame(&mut Cursor::new([]), MAX_FRAME_BYTES).expect_err("empty");
    assert!(err.is_clean_close(), "{err}");
}

#[test]
fn truncated_body_reports_how_much_arrived() {
    let wire = minimal_hello_on_the_wire();
    let err = blocking::read_frame(&mut Cursor::new(&wire[..15]), MAX_FRAME_BYTES)
        .expect_err("short body");
    assert!(
        matches!(
            err,
            FramingError::Truncated {
                section: FrameSection::Body,
                received: 10,
                expected: 28
            }
        ),
        "{err}"
    );
    let mut decoder = FrameDecoder::new();
    decoder.push(&wire[..15]).expect("partial is fine");
    assert!(matches!(
        decoder.eof_error(),
        FramingError::Truncated { received: 10, .. }
    ));
}

#[test]
fn bad_first_byte_fails_on_that_byte_and_nothing_after_it_is_read() {
    let mut decoder = FrameDecoder::new();
    assert_eq!(decoder.wanted(), 1, "the framing byte is read alone");
    let err = decoder.push(&[0x02]).expect_err("bad framing byte (FRM-4)");
    assert!(
        matches!(err, FramingError::BadFramingByte { found: 0x02 }),
        "{err}"
    );

    let mut wire = minimal_hello_on_the_wire();
    wire[0] = 0x7f;
    let mut cursor = Cursor::new(wire);
    let err = blocking::read_frame(&mut cursor, MAX_FRAME_BYTES).expect_err("bad framing byte");
    assert!(matches!(err, FramingError::BadFramingByte { found: 0x7f }));
    assert_eq!(cursor.position(), 1, "only the bad byte was read");
}

#[test]
fn byte_at_a_time_feeding_decodes_the_spec_vector() {
    let wire = minimal_hello_on_the_wire();
    let mut decoder = FrameDecoder::new();
    let mut wanted = Vec::new();
    let mut body = None;
    for (i, byte) in wire.iter().enumerate() {
        wanted.push(decoder.wanted());
        let (consumed, out) = decoder
            .push(std::slice::from_ref(byte))
            .expect("valid bytes");
        assert_eq!(consumed, 1);
        if out.is_some() {
            assert_eq!(i, wire.len() - 1, "completes on the last byte only");
        }
        body = body.or(out);
    }
    assert_eq!(&wanted[..6], &[1, 4, 3, 2, 1, 28]);
    let frame = decode_frame_body(body.expect("complete")).expect("decodes");
    assert_eq!(frame.request_id, 1);
    assert!(decoder.is_idle(), "ready for the next frame");
}

/// Serves at most `n` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.n.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn blocking_reader_handles_short_reads() {
    let wire = minimal_hello_on_the_wire();
    for n in 1..=7 {
        let frame = blocking::read_frame(&mut Trickle { data: &wire, n }, MAX_FRAME_BYTES)
            .expect("decodes");
        assert_eq!(frame.request_id, 1, "chunk size {n}");
    }
}

#[test]
fn decoder_never_consumes_past_the_frame() {
    let first = minimal_hello_on_the_wire();
    let mut both = first.clone();
    both.extend_from_slice(&first);
    let mut decoder = FrameDecoder::new();
    let (consumed, body) = decoder.push(&both).expect("valid");
    assert_eq!(consumed, first.len());
    assert!(body.is_some());
    let (consumed, body) = decoder.push(&both[first.len()..]).expect("second frame");
    assert_eq!(consumed, first.len());
    assert!(body.is_some());

    let mut cursor = Cursor::new(both);
    blocking::read_frame(&mut cursor, MAX_FRAME_BYTES).expect("first");
    assert_eq!(
        cursor.position() as usize,
        first.len(),
        "the blocking reader stops at the frame end"
    );
}

#[test]
fn split_frame_is_zero_copy_and_decode_framed_rejects_trailing_bytes() {
    let wire = Bytes::from(minimal_hello_on_the_wire());
    let (body, consumed) = split_frame(&wire, MAX_FRAME_BYTES).expect("complete");
    assert_eq!(consumed, wire.len());
    assert_eq!(
        body.as_ptr(),
        wire[5..].as_ptr(),
        "the body shares the buffer"
    );
    let mut longer = wire.to_vec();
    longer.push(0);
    assert!(matches!(
        decode_framed(&Bytes::from(longer), MAX_FRAME_BYTES),
        Err(FramingError::TrailingBytes { count: 1 })
    ));
    assert!(matches!(
        split_frame(&Bytes::from_static(&[0x09]), MAX_FRAME_BYTES),
        Err(FramingError::BadFramingByte { found: 0x09 })
    ));
}

#[test]
fn a_body_that_is_not_a_frame_is_malformed() {
    // Field 1 declared as length-delimited with a length past the end.
    let err = decode_frame_body(Bytes::from_static(&[0x0a, 0x05, 0x01])).expect_err("not a Frame");
    assert!(matches!(err, FramingError::Malformed(_)), "{err}");
}

fn random_frame(rng: &mut Rng) -> Frame {
    let payload_len = match rng.below(10) {
        0 => 0,
        1 => 64 * 1024 + rng.below(4096) as usize,
        _ => rng.below(512) as usize,
    };
    Frame {
        envelope_version: rng.below(3) as u32,
        kind: rng.below(5) as i32,
        payload_protocol: rng.below(0x1_0000) as u32,
        payload: Bytes::from(rng.bytes(payload_len)),
        request_id: rng.next_u64(),
        payload_encoding: rng.below(4) as i32,
        deadline_unix_ms: if rng.below(2) == 0 { 0 } else { rng.next_u64() },
        traceparent: {
            let len = rng.below(60) as usize;
            rng.ascii(len)
        },
        tracestate: {
            let len = rng.below(20) as usize;
            rng.ascii(len)
        },
    }
}

#[test]
fn random_frames_round_trip_through_random_chunkings() {
    let mut rng = Rng::new(0x5eed_f4a3);
    let mut decoder = FrameDecoder::new();
    for case in 0..400 {
        let frames: Vec<Frame> = (0..1 + rng.below(3))
            .map(|_| random_frame(&mut rng))
            .collect();
        let wire: Vec<u8> = frames
            .iter()
            .flat_map(|f| encode_frame(f).expect("small"))
            .collect();
        let mut decoded = Vec::new();
        let mut rest = wire.as_slice();
        while !rest.is_empty() {
            let chunk = (1 + rng.below(300) as usize).min(rest.len());
            let mut piece = &rest[..chunk];
            while !piece.is_empty() {
                let (n, body) = decoder.push(piece).expect("valid stream");
                piece = &piece[n..];
                if let Some(body) = body {
                    decoded.push(decode_frame_body(body).expect("valid body"));
                }
            }
            rest = &rest[chunk..];
        }
        assert_eq!(decoded, frames, "case {case}");
        assert!(decoder.is_idle());
    }
}

#[test]
fn random_bytes_never_panic_the_decoder() {
    let mut rng = Rng::new(7);
    for _ in 0..2000 {
        let len = rng.below(40) as usize;
        let mut bytes = rng.bytes(len);
        if rng.below(2) == 0 && !bytes.is_empty() {
            bytes[0] = 0x01;
        }
        let mut decoder = FrameDecoder::with_limit(1024);
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            match decoder.push(rest) {
                Ok((n, body)) => {
                    rest = &rest[n..];
                    if let Some(body) = body {
                        let _ = decode_frame_body(body);
                    }
                }
                Err(_) => break,
            }
        }
    }
}

#[tokio::test]
async fn async_shell_reads_and_writes_over_a_duplex_stream() {
    let (mut client, mut server) = tokio::io::duplex(64);
    let frame = Frame {
        envelope_version: 1,
        kind: FrameKind::Response as i32,
        payload: Bytes::from(vec![7; 1000]),
        request_id: 99,
        ..Frame::default()
    };
    let sent = frame.clone();
    let writer = tokio::spawn(async move { async_io::write_frame(&mut client, &sent).await });
    let read = async_io::read_frame(&mut server, MAX_FRAME_BYTES)
        .await
        .expect("read");
    writer.await.expect("join").expect("write");
    assert_eq!(read, frame);
    let err = async_io::read_frame(&mut server, MAX_FRAME_BYTES)
        .await
        .expect_err("closed");
    assert!(err.is_clean_close(), "{err}");
}

/// Past the eager bound both stream readers make room for the rest as it comes: a
/// 3 MiB body read in short pieces decodes whole, and one cut off mid-way
/// reports exactly how much of it arrived.
#[tokio::test]
async fn bodies_past_the_eager_bound_grow_as_they_arrive_and_report_truncation() {
    let body_len = 3 << 20;
    let frame = frame_with_body_len(body_len);
    let wire = encode_frame(&frame).expect("encode");
    let read = blocking::read_frame(
        &mut Trickle {
            data: &wire,
            n: 100_000,
        },
        MAX_FRAME_BYTES,
    )
    .expect("blocking read in pieces");
    assert_eq!(read, frame);

    let (mut client, mut server) = tokio::io::duplex(100_000);
    let sent = wire.clone();
    let writer =
        tokio::spawn(async move { tokio::io::AsyncWriteExt::write_all(&mut client, &sent).await });
    let read = async_io::read_frame(&mut server, MAX_FRAME_BYTES)
        .await
        .expect("async read in pieces");
    writer.await.expect("join").expect("write");
    assert_eq!(read, frame);

    let cut = 5 + (2 << 20) + 12_345;
    let truncated = |err: &FramingError| {
        matches!(
            err,
            FramingError::Truncated {
                section: FrameSection::Body,
                received,
                expected,
            } if *received == cut - 5 && *expected == body_len
        )
    };
    let err = blocking::read_frame(&mut Cursor::new(&wire[..cut]), MAX_FRAME_BYTES)
        .expect_err("blocking: cut off");
    assert!(truncated(&err), "{err}");
    let err = async_io::read_frame(&mut &wire[..cut], MAX_FRAME_BYTES)
        .await
        .expect_err("async: cut off");
    assert!(truncated(&err), "{err}");
}
