//! The seed corpus of each fuzz target, from `golden/` (frames, and
//! payloads wrapped as the target expects) and from the crate's own
//! builders and writers (definitions, event logs). Written to
//! `fuzz/corpus/<target>/` by the ignored test `reseed`.

use std::fs;
use std::path::Path;

use bytes::Bytes;
use prost::Message;

use broker_conformance::definitions::{Isolation, ServiceDefinitionBuilder};
use broker_conformance::events::{EventKind, EventLog, LifecycleEvent, new_event};
use broker_conformance::fuzzing::{HANDOFF_CORRELATION_ID, HANDOFF_TOKEN};
use broker_conformance::proto::v1::{
    AdminRequest, Frame, FrameKind, HandoffAck, Hello, PayloadEncoding,
};
use broker_conformance::proto::v2::HttpServerCapability;
use broker_conformance::wire::frames::{self, handoff_ack, handoff_offer, hello_request};
use broker_conformance::wire::framing::split_frame;
use broker_conformance::wire::{MAX_FRAME_BYTES, PAYLOAD_PROTOCOL_HANDOFF};

use crate::support::golden_dir;

/// `(file name, bytes)` seeds of one target.
pub type Seeds = Vec<(String, Vec<u8>)>;

fn golden(name: &str) -> Vec<u8> {
    let path = golden_dir().join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `.bin` goldens of `generation` whose names start with `prefix`, sorted.
fn golden_bins(generation: &str, prefix: &str) -> Vec<String> {
    let dir = golden_dir().join(generation);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".bin"))
        .collect();
    names.sort();
    names
}

/// The framed goldens (`wire_*`), v1 and v2.
fn wire_goldens() -> Seeds {
    let mut seeds = Seeds::new();
    for generation in ["v1", "v2"] {
        for name in golden_bins(generation, "wire_") {
            let bytes = golden(&format!("{generation}/{name}"));
            seeds.push((format!("golden-{generation}-{name}"), bytes));
        }
    }
    seeds
}

fn body_of(framed: &[u8]) -> Vec<u8> {
    let (body, _) = split_frame(&Bytes::copy_from_slice(framed), MAX_FRAME_BYTES)
        .unwrap_or_else(|e| panic!("a wire golden that does not frame: {e}"));
    body.to_vec()
}

fn body(frame: &Frame) -> Vec<u8> {
    frame.encode_to_vec()
}

fn wire_bodies(prefix: &str) -> Seeds {
    wire_goldens()
        .into_iter()
        .filter(|(name, _)| name.contains(prefix))
        .map(|(name, bytes)| (name, body_of(&bytes)))
        .collect()
}

/// Streams: each framed golden, all of them back to back, a truncated one.
pub fn frame_decoder() -> Seeds {
    let mut seeds = wire_goldens();
    let stream: Vec<u8> = seeds.iter().flat_map(|(_, b)| b.clone()).collect();
    let first = seeds[0].1.clone();
    seeds.push(("stream-all-wire-goldens".into(), stream));
    seeds.push((
        "truncated-wire-golden".into(),
        first[..first.len() - 1].to_vec(),
    ));
    seeds.push(("empty-frame".into(), vec![0x01, 0, 0, 0, 0]));
    seeds
}

/// Frame bodies: the spec §2 vectors, the all-fields frame, Hellos wrapped.
pub fn hello_frame() -> Seeds {
    let mut seeds = wire_bodies("wire_hello");
    for name in ["frame_hello_minimal", "frame_all_fields"] {
        seeds.push((
            format!("golden-v1-{name}.bin"),
            golden(&format!("v1/{name}.bin")),
        ));
    }
    for name in ["hello_minimal", "hello_full"] {
        let hello = Hello::decode(golden(&format!("v1/{name}.bin")).as_slice())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        seeds.push((format!("wrapped-{name}"), body(&hello_request(&hello, 7))));
    }
    seeds
}

/// Admin frame bodies: every golden AdminRequest wrapped (ADM-1).
pub fn admin_request() -> Seeds {
    let mut seeds = wire_bodies("wire_admin_request");
    for (i, name) in golden_bins("v1", "admin_request_").iter().enumerate() {
        let request = AdminRequest::decode(golden(&format!("v1/{name}")).as_slice())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let id = i as u64 + 1;
        seeds.push((
            format!("wrapped-{name}"),
            body(&frames::admin_request(&request, id)),
        ));
    }
    seeds
}

/// Handoff frame bodies: the wire goldens, both offer payload forms and
/// both acks wrapped (HOF-3, HOF-4).
pub fn handoff_messages() -> Seeds {
    let mut seeds = wire_bodies("wire_handoff");
    for name in ["handoff_offer", "handoff_offer_explicit_handle"] {
        let frame = Frame {
            envelope_version: 1,
            kind: FrameKind::Request as i32,
            payload_protocol: PAYLOAD_PROTOCOL_HANDOFF,
            payload: Bytes::from(golden(&format!("v1/{name}.bin"))),
            request_id: HANDOFF_CORRELATION_ID,
            payload_encoding: PayloadEncoding::None as i32,
            ..Frame::default()
        };
        seeds.push((format!("wrapped-{name}"), body(&frame)));
    }
    for name in ["handoff_ack", "handoff_ack_rejected"] {
        let ack = HandoffAck::decode(golden(&format!("v1/{name}.bin")).as_slice())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        seeds.push((format!("wrapped-{name}"), body(&handoff_ack(&ack))));
    }
    let own = handoff_offer(&HANDOFF_TOKEN, "zccache", HANDOFF_CORRELATION_ID);
    seeds.push(("built-offer".into(), body(&own)));
    seeds
}

/// Definition files: both golden definitions, and built ones for each
/// isolation, v1 and v2.
pub fn service_definition() -> Seeds {
    let mut seeds: Seeds = ["v1", "v2"]
        .iter()
        .map(|g| {
            (
                format!("golden-{g}-service_definition.bin"),
                golden(&format!("{g}/service_definition.bin")),
            )
        })
        .collect();
    for (name, isolation) in [
        ("private", Isolation::Private),
        ("shared", Isolation::Shared),
        ("explicit", Isolation::Explicit("ci".into())),
    ] {
        let builder = ServiceDefinitionBuilder::new("zccache")
            .binary_path("/opt/zccache/2.0.0/zccache-daemon")
            .per_version_binary_dir("/opt/zccache")
            .min_version("1.0.0")
            .allow_version("2.0.0")
            .label("handoff", "1")
            .isolation(isolation);
        let v1 = builder
            .clone()
            .build()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        seeds.push((format!("built-v1-{name}"), v1.encode_to_vec()));
        let http = HttpServerCapability {
            bind_addr: "127.0.0.1".into(),
            health_path: "/health".into(),
            ..HttpServerCapability::default()
        };
        let v2 = builder
            .build_v2(Some(http))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        seeds.push((format!("built-v2-{name}"), v2.encode_to_vec()));
    }
    seeds
}

/// Event logs written by [`EventLog`]: empty, one record, several kinds,
/// and the golden worst-case event (cut to the EVT-1 floor by the writer).
pub fn event_log() -> Seeds {
    let worst = LifecycleEvent::decode(golden("v1/lifecycle_event_worst_case.bin").as_slice())
        .unwrap_or_else(|e| panic!("lifecycle_event_worst_case: {e}"));
    let event = |kind, service: &str, reason: &str, i: u64| LifecycleEvent {
        ts_ms: 1_700_000_000_000 + i,
        pid: 4242,
        ..new_event(kind, service, reason)
    };
    let logs: [(&str, Vec<LifecycleEvent>); 4] = [
        ("written-empty", vec![]),
        (
            "written-one",
            vec![event(EventKind::HelloAccepted, "zccache", "ok", 0)],
        ),
        (
            "written-kinds",
            vec![
                event(EventKind::SpawnAttempt, "zccache", "launch", 1),
                event(EventKind::Spawn, "zccache", "pid 200", 2),
                event(
                    EventKind::HelloRefused,
                    "nope",
                    "service definition was not found",
                    3,
                ),
                event(EventKind::HelloAccepted, "zccache", "ok", 4),
            ],
        ),
        ("written-worst-case", vec![worst]),
    ];
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    logs.into_iter()
        .map(|(name, events)| {
            let path = dir.path().join(name);
            let log = EventLog::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            for event in events {
                log.append(event).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            (name.to_owned(), read(&path))
        })
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Event scripts for the Hello machine (see `src/fuzzing/hello_machine.rs`
/// for how a script reads): the registry-hit path to Negotiated, the
/// handoff path, and a framing refusal.
pub fn hello_machine() -> Seeds {
    // No auth; Peer (pid 1, the broker's uid).
    let peer: &[u8] = &[0, 0, 1, 0, 0, 0, 1];
    // Frame: a Hello "svc" 1.2.3, protocol 1..1, capabilities `caps`, pid 1,
    // request id 7, untouched envelope; body length 50, nothing read past,
    // no fd pressure.
    let frame = |caps: u8| -> Vec<u8> {
        vec![
            1, 200, 0, 0, 1, 1, caps, 0, 1, 0, 0, 0, 1, 0, 7, 0, 0, 0, 7, 0, 1, 50, 0, 255,
        ]
    };
    // Definition: loaded, "svc", no floor, private, no allow-list, handoff
    // label `label`, unchanged; not draining.
    let definition = |label: u8| -> Vec<u8> { vec![5, 2, 0, 0, 0, 0, 0, label, 2, 255] };
    // Binary resolved; backend acquired as connection 5 with handoff socket `handoff`.
    let binary: &[u8] = &[6, 0, 0, 7];
    let backend =
        |handoff: u8| -> Vec<u8> { vec![7, 5, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0, handoff, 0] };
    let replied: &[u8] = &[9];
    let negotiated = [
        peer,
        &frame(0),
        &definition(0),
        binary,
        &backend(0),
        replied,
    ]
    .concat();
    let token: &[u8] = &[8, 1, 0xAB];
    let handed_off: &[u8] = &[11];
    let handoff = [
        peer,
        &frame(1),
        &definition(1),
        binary,
        &backend(1),
        token,
        replied,
        handed_off,
    ]
    .concat();
    // FramingFailed: bad framing byte 2, then the reply.
    let refused = [peer, &[3, 0, 2][..], replied].concat();
    vec![
        ("script-negotiated".to_owned(), negotiated),
        ("script-handoff".to_owned(), handoff),
        ("script-framing-refused".to_owned(), refused),
    ]
}

/// Every target's seeds, by target name.
pub fn all() -> Vec<(&'static str, Seeds)> {
    vec![
        ("frame_decoder", frame_decoder()),
        ("hello_frame", hello_frame()),
        ("admin_request", admin_request()),
        ("handoff_messages", handoff_messages()),
        ("service_definition", service_definition()),
        ("event_log", event_log()),
        ("hello_machine", hello_machine()),
    ]
}
