//! Connection handoff end to end (HOF-1…HOF-9, LCH-6, NEG-7, NEG-8): a real
//! client, the reference broker and fake-backend processes passing the
//! client's socket over SCM_RIGHTS.

#![cfg(unix)]

mod support;

use std::os::unix::net::UnixStream;
use std::time::Duration;

use broker_conformance::broker::EmbeddedBroker;
use broker_conformance::client::{
    BackendConnection, ClientSettings, ConnectRequest, Route, connect,
};
use broker_conformance::definitions::{ServiceDefinitionBuilder, write_service_definition};
use broker_conformance::fake_backend::{Behavior, Record, read_records};
use broker_conformance::proto::v1::{Frame, FrameKind};
use broker_conformance::wire::framing::blocking::{read_frame, write_frame};
use broker_conformance::wire::{CAP_HANDLE_PASSING, MAX_FRAME_BYTES};
use support::broker::{hello, install_fake_backend, negotiate, short_tempdir};

struct Fixture {
    broker: EmbeddedBroker,
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            broker: EmbeddedBroker::start().expect("broker"),
            root: short_tempdir(),
        }
    }

    /// Defines `service` on the fake backend, with or without `handoff = "1"` (LCH-6).
    fn define(&self, service: &str, handoff: bool) {
        let (binary, dir) = install_fake_backend(self.root.path(), service);
        let mut builder = ServiceDefinitionBuilder::new(service)
            .binary_path(&binary)
            .per_version_binary_dir(&dir);
        if handoff {
            builder = builder.label("handoff", "1");
        }
        write_service_definition(
            self.broker.service_def_dir(),
            &builder.build().expect("definition"),
        )
        .expect("write");
    }

    fn records(&self, service: &str) -> Vec<Record> {
        let dir = self
            .root
            .path()
            .join("bin")
            .join(service)
            .join("fake-backend-records");
        read_records(&dir)
            .expect("records")
            .into_iter()
            .flat_map(|(_, r)| r)
            .collect()
    }

    fn connect(&self, service: &str, adopt: bool) -> BackendConnection {
        let mut request =
            ConnectRequest::new(self.broker.endpoint().to_path_buf(), service, "1.0.0");
        request.adopt_handoff = adopt;
        connect(&request, &ClientSettings::default()).expect("connected")
    }
}

/// The backend answers on this connection (it echoes).
fn assert_served(stream: &mut UnixStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = Frame {
        envelope_version: 1,
        payload_protocol: 0xF00D,
        payload: bytes::Bytes::from_static(b"over the handoff"),
        request_id: 77,
        ..Frame::default()
    };
    write_frame(stream, &request).expect("send");
    let reply = read_frame(stream, MAX_FRAME_BYTES).expect("the backend answers");
    assert_eq!(
        (reply.kind, reply.request_id),
        (FrameKind::Response as i32, 77)
    );
    assert_eq!(reply.payload, request.payload);
}

/// HOF-1…HOF-5, HOF-9, LCH-6: the broker connection itself becomes the
/// backend connection.
#[test]
fn an_accepted_handoff_serves_the_client_on_its_broker_socket() {
    let f = Fixture::new();
    let service = Behavior::HandoffAccept.service_name();
    f.define(&service, true);
    let mut connection = f.connect(&service, true);
    assert_eq!(connection.route, Route::HandlePassed);
    let negotiated = connection.negotiated.clone().expect("Negotiated");
    assert_eq!(negotiated.handle_passed_token.len(), 16, "HOF-1");
    assert_eq!(
        negotiated.server_capabilities & CAP_HANDLE_PASSING,
        CAP_HANDLE_PASSING,
        "NEG-7"
    );
    assert!(
        !negotiated.backend_pipe.is_empty(),
        "HOF-1: the normal backend_pipe too"
    );
    assert_served(&mut connection.stream);
    let records = f.records(&service);
    let offer = records.iter().find_map(|r| match r {
        Record::HandoffOffer {
            token,
            correlation_id,
            request_id,
            service: s,
            with_fd,
            explicit_handle,
        } => Some((
            token.clone(),
            *correlation_id,
            *request_id,
            s.clone(),
            *with_fd,
            *explicit_handle,
        )),
        _ => None,
    });
    let (token, correlation_id, request_id, offered_service, with_fd, explicit_handle) =
        offer.expect("an offer");
    assert!(with_fd, "HOF-2: the descriptor came with the token");
    assert_eq!(
        token,
        broker_conformance::inspect::to_hex(&negotiated.handle_passed_token),
        "HOF-2: the token bytes"
    );
    assert_eq!(
        request_id, correlation_id,
        "HOF-3: request_id = correlation_id"
    );
    assert!(explicit_handle, "HOF-3: the payload starts 08 00");
    assert_eq!(offered_service, service);
    assert_eq!(correlation_id, negotiated.connection_id);
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::HandoffAck { accepted: true }))
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Frame { request_id: 77, .. })),
        "the backend read the client's request on the adopted socket"
    );
}

/// HOF-6, HOF-8: every failure is invisible but for the missing EVENT; the
/// client reconnects to backend_pipe and is served there.
#[test]
fn every_failed_handoff_ends_in_the_reconnect_route() {
    let f = Fixture::new();
    let behaviours = [
        Behavior::HandoffRefuse,
        Behavior::HandoffWrongToken,
        Behavior::HandoffWrongCorrelation,
        Behavior::HandoffLate,
    ];
    for behavior in behaviours {
        f.define(&behavior.service_name(), true);
    }
    std::thread::scope(|s| {
        for behavior in behaviours {
            let f = &f;
            s.spawn(move || {
                let service = behavior.service_name();
                let mut connection = f.connect(&service, true);
                assert_eq!(connection.route, Route::BrokerNegotiated, "{behavior}");
                assert!(
                    connection
                        .negotiated
                        .as_ref()
                        .is_some_and(|n| n.handle_passed_token.len() == 16)
                );
                assert_served(&mut connection.stream);
                let offered = f
                    .records(&service)
                    .iter()
                    .any(|r| matches!(r, Record::HandoffOffer { .. }));
                assert!(offered, "{behavior}: the broker did attempt the handoff");
            });
        }
    });
}

/// HOF-7: a token is good for one handoff only.
#[test]
fn a_replayed_token_is_rejected() {
    let f = Fixture::new();
    let service = Behavior::HandoffReplay.service_name();
    f.define(&service, true);
    let mut first = f.connect(&service, true);
    assert_eq!(first.route, Route::HandlePassed);
    assert_served(&mut first.stream);
    let mut second = f.connect(&service, true);
    assert_eq!(
        second.route,
        Route::BrokerNegotiated,
        "the replayed token does not complete a handoff"
    );
    assert_served(&mut second.stream);
}

/// NEG-8, CAP-1: no token unless a handoff will really be attempted.
#[test]
fn no_token_is_issued_when_no_handoff_follows() {
    let f = Fixture::new();
    f.define("fake-echo", false);
    f.define(&Behavior::HandoffAccept.service_name(), true);
    let mut capable = hello("fake-echo", "1.0.0");
    capable.client_capabilities = CAP_HANDLE_PASSING;
    let n = negotiate(f.broker.endpoint(), &capable);
    assert!(
        n.handle_passed_token.is_empty() && n.server_capabilities == 0,
        "service not opted in: {n:?}"
    );
    let incapable = hello(&Behavior::HandoffAccept.service_name(), "1.0.0");
    let n = negotiate(f.broker.endpoint(), &incapable);
    assert!(
        n.handle_passed_token.is_empty() && n.server_capabilities == 0,
        "client did not advertise: {n:?}"
    );
}

/// HOF-8: without opt-in the client ignores the handoff and reconnects; the
/// broker's EVENT lands on a socket the client closed, harmlessly.
#[test]
fn a_client_that_does_not_adopt_reconnects() {
    let f = Fixture::new();
    let service = Behavior::HandoffAccept.service_name();
    f.define(&service, true);
    let mut connection = f.connect(&service, false);
    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_served(&mut connection.stream);
}

/// The `connect` subcommand adopts too.
#[test]
fn the_connect_cli_reports_the_handed_off_route() {
    let f = Fixture::new();
    let service = Behavior::HandoffAccept.service_name();
    f.define(&service, true);
    let output = std::process::Command::new(support::serve::binary())
        .args([
            "connect",
            "--adopt",
            "--ping",
            "--service",
            &service,
            "--version",
            "1.0.0",
            "--socket",
        ])
        .arg(f.broker.endpoint())
        .env_remove("RUNNING_PROCESS_DISABLE")
        .env_remove("RUNNING_PROCESS_FAKE_BACKEND")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("route: handle-passed") && stdout.contains("ping: ok"),
        "{stdout}"
    );
}

/// ENV-5, HOF-8, NEG-8: a client that wrote past its Hello (before any
/// reply) is answered, but not handed off: what it wrote would be lost.
#[test]
fn a_client_that_wrote_past_its_hello_is_not_handed_off() {
    use broker_conformance::wire::frames::hello_request;
    use broker_conformance::wire::framing::encode_frame;
    use std::io::Write;
    let f = Fixture::new();
    let service = Behavior::HandoffAccept.service_name();
    f.define(&service, true);
    let mut capable = hello(&service, "1.0.0");
    capable.client_capabilities = CAP_HANDLE_PASSING;
    // The conforming path hands off: a token comes back.
    let n = negotiate(f.broker.endpoint(), &capable);
    assert_eq!(n.handle_passed_token.len(), 16, "{n:?}");
    // The same Hello with a request glued behind it, in one write.
    let mut bytes = encode_frame(&hello_request(&capable, 1)).expect("encode");
    bytes.extend(
        encode_frame(&Frame {
            envelope_version: 1,
            payload_protocol: 0xF00D,
            request_id: 2,
            ..Frame::default()
        })
        .expect("encode"),
    );
    let mut stream = UnixStream::connect(f.broker.endpoint()).expect("connect");
    stream.write_all(&bytes).expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let reply = read_frame(&mut stream, MAX_FRAME_BYTES).expect("a reply");
    let reply: broker_conformance::proto::v1::HelloReply =
        broker_conformance::wire::decode_payload(&reply).expect("a HelloReply");
    let Some(broker_conformance::proto::v1::hello_reply::Result::Negotiated(n)) = reply.result
    else {
        panic!("negotiated expected: {reply:?}");
    };
    assert!(
        n.handle_passed_token.is_empty() && n.server_capabilities == 0,
        "no handoff for a client that wrote past its Hello: {n:?}"
    );
    let mut rest = Vec::new();
    use std::io::Read;
    stream.read_to_end(&mut rest).expect("the broker closes");
    assert!(rest.is_empty(), "no EVENT: {rest:?}");
}
