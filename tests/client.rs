//! The client library and the `hello` / `admin` subcommands against
//! scripted brokers and backends on real Unix sockets: CLI-1…CLI-6, CAP-1,
//! ENV-1, NEG-7, HOF-8 and ADM-1.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use broker_conformance::client::{
    self, ClientError, ClientSettings, ConnectRequest, Route, asynchronous,
};
use broker_conformance::env::MapEnv;
use broker_conformance::proto::v1::{
    AdminReply, AdminRequest, AdminVerb, ErrorCode, Frame, FrameKind, HandoffAck, Hello, Refused,
};
use broker_conformance::wire::env_vars::{CLIENT_TIMEOUT_MS, DISABLE, FAKE_BACKEND};
use broker_conformance::wire::frames::{
    admin_reply, admin_text, handoff_ack, handoff_event, hello_request, negotiated,
    negotiated_reply, refused_message_reply, refused_reply,
};
use broker_conformance::wire::framing::blocking::{read_frame, write_frame};
use broker_conformance::wire::framing::encode_frame;
use broker_conformance::wire::{
    CAP_HANDLE_PASSING, EnvelopeError, FramingError, MAX_FRAME_BYTES, PAYLOAD_PROTOCOL_ADMIN,
    PAYLOAD_PROTOCOL_CONTROL, Refusal, ReplyContext, check_envelope, decode_payload,
};
use bytes::Bytes;
use tempfile::TempDir;

const TOKEN: [u8; 16] = [0x5a; 16];
const SERVICE: &str = "svc";
const VERSION: &str = "1.2.3";
/// Generous bound for replies that do arrive; never reached in a passing run.
const PATIENT: Duration = Duration::from_secs(20);
/// Bound for waits that are meant to expire.
const SHORT: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------
// Scripted peers
// ---------------------------------------------------------------------------

fn short_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("cl")
        .tempdir_in("/tmp")
        .expect("temp dir")
}

/// A broker that accepts one connection, reads one frame, reports it, then
/// runs its script on the connection.
struct FakeBroker {
    path: PathBuf,
    requests: mpsc::Receiver<Frame>,
    thread: JoinHandle<()>,
}

impl FakeBroker {
    fn spawn(dir: &Path, script: impl FnOnce(UnixStream, &Frame) + Send + 'static) -> Self {
        let path = dir.join("broker.sock");
        let listener = UnixListener::bind(&path).expect("bind broker");
        let (tx, requests) = mpsc::channel();
        let thread = thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let request = read_frame(&mut stream, MAX_FRAME_BYTES).expect("broker reads a frame");
            tx.send(request.clone()).expect("test is listening");
            script(stream, &request);
        });
        Self {
            path,
            requests,
            thread,
        }
    }

    /// The frame the client sent; waits for the connection to arrive.
    fn request(&self) -> Frame {
        self.requests
            .recv_timeout(PATIENT)
            .expect("the client sent a request")
    }

    /// The Hello the client sent.
    fn hello(&self) -> (Frame, Hello) {
        let frame = self.request();
        let hello = decode_payload(&frame).expect("a Hello payload");
        (frame, hello)
    }

    fn join(self) {
        self.thread.join().expect("broker script did not panic");
    }
}

/// Answers with raw bytes, then closes.
fn answer_bytes(bytes: Vec<u8>) -> impl FnOnce(UnixStream, &Frame) + Send + 'static {
    move |mut stream, _| stream.write_all(&bytes).expect("broker writes")
}

/// The Negotiated reply for `request`, pointing at `backend`.
fn negotiated_for(request: &Frame, backend: &Path, token: Option<[u8; 16]>) -> Frame {
    let hello: Hello = decode_payload(request).expect("a Hello payload");
    negotiated_reply(
        &ReplyContext::echo(request),
        negotiated(&hello, &backend.to_string_lossy(), 1, token),
    )
}

/// Answers Negotiated pointing at `backend`, then closes.
fn negotiate(backend: PathBuf) -> impl FnOnce(UnixStream, &Frame) + Send + 'static {
    move |mut stream, request| {
        write_frame(&mut stream, &negotiated_for(request, &backend, None)).expect("broker writes")
    }
}

/// Answers the refusal, then closes.
fn refuse(refused: Refused) -> impl FnOnce(UnixStream, &Frame) + Send + 'static {
    move |mut stream, request| {
        let reply = refused_message_reply(&ReplyContext::echo(request), refused);
        write_frame(&mut stream, &reply).expect("broker writes")
    }
}

/// Echoes everything back until the peer closes.
fn echo(mut stream: UnixStream) {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// A backend that echoes on its first connection.
struct EchoBackend {
    path: PathBuf,
    thread: JoinHandle<()>,
}

impl EchoBackend {
    fn spawn(dir: &Path, name: &str) -> Self {
        let path = dir.join(name);
        let listener = UnixListener::bind(&path).expect("bind backend");
        let thread = thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                echo(stream);
            }
        });
        Self { path, thread }
    }

    fn join(self) {
        self.thread.join().expect("backend did not panic");
    }
}

/// Proves `stream` reaches an echoing peer.
fn assert_echoes(stream: &mut UnixStream) {
    stream.set_read_timeout(Some(PATIENT)).expect("timeout");
    stream.write_all(b"ping").expect("write to backend");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).expect("backend answers");
    assert_eq!(&buf, b"ping");
}

/// True when nobody ever connected to `listener`. A Unix connect completes
/// into the backlog before `connect(2)` returns, so after the client call
/// this is decided.
fn never_contacted(listener: &UnixListener) -> bool {
    listener.set_nonblocking(true).expect("nonblocking");
    matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

fn request_for(broker: &Path) -> ConnectRequest {
    ConnectRequest {
        timeout: Some(PATIENT),
        ..ConnectRequest::new(broker, SERVICE, VERSION)
    }
}

fn settings() -> ClientSettings {
    ClientSettings::from_env(&MapEnv::default()).expect("empty env is valid")
}

fn connect_err(request: &ConnectRequest) -> ClientError {
    client::connect(request, &settings()).expect_err("connect must fail")
}

// ---------------------------------------------------------------------------
// Negotiated, Refused and the Hello itself
// ---------------------------------------------------------------------------

/// NEG-2, HEL-21: a Negotiated client reaches its backend.
#[test]
fn negotiated_connects_to_the_backend_pipe() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(backend.path.clone()));

    let mut connection = client::connect(&request_for(&broker.path), &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_eq!(connection.endpoint, backend.path);
    let negotiated = connection.negotiated.as_ref().expect("negotiated kept");
    assert_eq!(negotiated.backend_pipe, backend.path.to_string_lossy());
    assert_echoes(&mut connection.stream);
    drop(connection);
    broker.join();
    backend.join();
}

/// CLI-5, CAP-1.
#[test]
fn the_hello_advertises_handle_passing_with_own_pid_and_protocol_one() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(backend.path.clone()));
    let request = ConnectRequest {
        client_version: "0.9.0".into(),
        request_id: "req-7".into(),
        auth_token: Some(vec![1, 2, 3]),
        keepalive_secs: 45,
        trace: Some((
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            "k=v".into(),
        )),
        ..request_for(&broker.path)
    };

    client::connect(&request, &settings()).expect("connect");

    let (frame, hello) = broker.hello();
    check_envelope(&frame, FrameKind::Request, PAYLOAD_PROTOCOL_CONTROL).expect("ENV-1 request");
    assert_eq!(
        hello.client_capabilities & CAP_HANDLE_PASSING,
        CAP_HANDLE_PASSING
    );
    assert_eq!(hello.peer_pid, std::process::id());
    assert_eq!(
        (hello.client_min_protocol, hello.client_max_protocol),
        (1, 1)
    );
    assert_eq!(hello.service_name, SERVICE);
    assert_eq!(hello.wanted_version, VERSION);
    assert_eq!(hello.client_version, "0.9.0");
    assert_eq!(hello.request_id, "req-7");
    assert_eq!(hello.auth_token.as_ref(), &[1, 2, 3]);
    assert_eq!(hello.client_keepalive_secs, 45);
    assert!(!hello.client_lib_name.is_empty());
    assert_eq!(
        frame.traceparent,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(frame.tracestate, "k=v");
    broker.join();
    backend.join();
}

/// CLI-4: Refused maps to a typed error.
#[test]
fn refused_becomes_a_typed_error_with_code_reason_and_retry() {
    let dir = short_dir();
    let refusal = Refusal::SpawnBudgetExhausted {
        retry_after_ms: 1234,
    };
    let broker = FakeBroker::spawn(dir.path(), refuse(refusal.to_refused()));

    let err = connect_err(&request_for(&broker.path));

    match &err {
        ClientError::Refused {
            code,
            raw_code,
            reason,
            retry_after_ms,
        } => {
            assert_eq!(*code, ErrorCode::ErrorRateLimited);
            assert_eq!(*raw_code, ErrorCode::ErrorRateLimited as i32);
            assert_eq!(reason, "backend spawn budget exhausted");
            assert_eq!(*retry_after_ms, 1234);
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(err.is_retryable_refusal());
    assert!(err.to_string().contains("ERROR_RATE_LIMITED"), "{err}");
    broker.join();
}

#[test]
fn an_unknown_refusal_code_is_kept_raw() {
    let dir = short_dir();
    let refused = Refused {
        code: 42,
        reason: "future".into(),
        ..Refusal::ServiceUnknown.to_refused()
    };
    let broker = FakeBroker::spawn(dir.path(), refuse(refused));

    match connect_err(&request_for(&broker.path)) {
        ClientError::Refused { code, raw_code, .. } => {
            assert_eq!(code, ErrorCode::Unspecified);
            assert_eq!(raw_code, 42);
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    broker.join();
}

/// A script that answers Negotiated after `tamper` changed the reply frame.
fn tampered(
    backend: PathBuf,
    tamper: impl FnOnce(&mut Frame) + Send + 'static,
) -> impl FnOnce(UnixStream, &Frame) + Send + 'static {
    move |mut stream, request| {
        let mut reply = negotiated_for(request, &backend, None);
        tamper(&mut reply);
        write_frame(&mut stream, &reply).expect("broker writes")
    }
}

/// CLI-4, ENV-1.
#[test]
fn a_reply_of_the_wrong_kind_is_an_envelope_error() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(
        dir.path(),
        tampered(dir.path().join("be.sock"), |f| {
            f.kind = FrameKind::Event as i32
        }),
    );

    match connect_err(&request_for(&broker.path)) {
        ClientError::Envelope(EnvelopeError::Kind { expected, found }) => {
            assert_eq!(expected, FrameKind::Response);
            assert_eq!(found, FrameKind::Event as i32);
        }
        other => panic!("expected a kind error, got {other:?}"),
    }
    broker.join();
}

/// CLI-4, ENV-1.
#[test]
fn a_reply_with_the_wrong_payload_protocol_is_an_envelope_error() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(
        dir.path(),
        tampered(dir.path().join("be.sock"), |f| {
            f.payload_protocol = PAYLOAD_PROTOCOL_ADMIN
        }),
    );

    match connect_err(&request_for(&broker.path)) {
        ClientError::Envelope(EnvelopeError::PayloadProtocol { expected, found }) => {
            assert_eq!(expected, PAYLOAD_PROTOCOL_CONTROL);
            assert_eq!(found, PAYLOAD_PROTOCOL_ADMIN);
        }
        other => panic!("expected a payload-protocol error, got {other:?}"),
    }
    broker.join();
}

#[test]
fn a_garbage_payload_is_malformed() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(
        dir.path(),
        tampered(dir.path().join("be.sock"), |f| {
            f.payload = Bytes::from_static(&[0xff, 0xff, 0xff])
        }),
    );

    let err = connect_err(&request_for(&broker.path));
    assert!(
        matches!(&err, ClientError::Malformed(m) if m.contains("HelloReply")),
        "{err:?}"
    );
    broker.join();
}

#[test]
fn a_garbage_frame_body_is_a_framing_error() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(
        dir.path(),
        answer_bytes(vec![0x01, 3, 0, 0, 0, 0xff, 0xff, 0xff]),
    );

    let err = connect_err(&request_for(&broker.path));
    assert!(
        matches!(err, ClientError::Framing(FramingError::Malformed(_))),
        "{err:?}"
    );
    broker.join();
}

#[test]
fn a_reply_without_a_result_is_malformed() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(
        dir.path(),
        tampered(dir.path().join("be.sock"), |f| f.payload = Bytes::new()),
    );

    let err = connect_err(&request_for(&broker.path));
    assert!(
        matches!(&err, ClientError::Malformed(m) if m.contains("neither")),
        "{err:?}"
    );
    broker.join();
}

/// CLI-4.
#[test]
fn an_empty_backend_pipe_is_malformed() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), negotiate(PathBuf::new()));

    let err = connect_err(&request_for(&broker.path));
    assert!(
        matches!(&err, ClientError::Malformed(m) if m.contains("backend_pipe")),
        "{err:?}"
    );
    broker.join();
}

/// NEG-7.
#[test]
fn a_token_that_is_not_16_bytes_is_malformed() {
    let dir = short_dir();
    let backend = dir.path().join("be.sock");
    let broker = FakeBroker::spawn(dir.path(), move |mut stream, request| {
        let hello: Hello = decode_payload(request).expect("hello");
        let mut offer = negotiated(&hello, &backend.to_string_lossy(), 1, Some(TOKEN));
        offer.handle_passed_token = Bytes::from_static(&[1; 8]);
        write_frame(
            &mut stream,
            &negotiated_reply(&ReplyContext::echo(request), offer),
        )
        .expect("broker writes");
    });

    let err = connect_err(&request_for(&broker.path));
    assert!(
        matches!(&err, ClientError::Malformed(m) if m.contains("NEG-7")),
        "{err:?}"
    );
    broker.join();
}

#[test]
fn a_broker_that_closes_without_replying_is_an_error() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), |stream, _| drop(stream));

    let err = connect_err(&request_for(&broker.path));
    match &err {
        ClientError::Framing(e) => assert!(e.is_clean_close(), "{e}"),
        other => panic!("expected a framing error, got {other:?}"),
    }
    broker.join();
}

/// CLI-6.
#[test]
fn a_broker_that_never_answers_times_out() {
    let dir = short_dir();
    let path = dir.path().join("broker.sock");
    // Bound but never accepted: the connect and the write land in the
    // backlog and the socket buffer, the read waits for nothing.
    let _listener = UnixListener::bind(&path).expect("bind");
    let request = ConnectRequest {
        timeout: Some(SHORT),
        ..ConnectRequest::new(&path, SERVICE, VERSION)
    };

    match connect_err(&request) {
        ClientError::Timeout { during, after } => {
            assert_eq!(during, "waiting for the Hello reply");
            assert_eq!(after, SHORT);
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
}

/// CLI-6.
#[test]
fn the_settings_timeout_applies_when_the_request_has_none() {
    let dir = short_dir();
    let path = dir.path().join("broker.sock");
    let _listener = UnixListener::bind(&path).expect("bind");
    let env = MapEnv::from_pairs([(CLIENT_TIMEOUT_MS, "150")]);
    let settings = ClientSettings::from_env(&env).expect("valid");

    let err = client::connect(&ConnectRequest::new(&path, SERVICE, VERSION), &settings)
        .expect_err("times out");
    assert!(
        matches!(err, ClientError::Timeout { after, .. } if after == Duration::from_millis(150)),
        "{err:?}"
    );
}

#[test]
fn a_missing_broker_is_a_connect_error_naming_the_socket() {
    let dir = short_dir();
    let path = dir.path().join("nobody.sock");

    match connect_err(&request_for(&path)) {
        ClientError::Connect { endpoint, .. } => assert_eq!(endpoint, path),
        other => panic!("expected Connect, got {other:?}"),
    }
}

#[test]
fn an_unreachable_backend_pipe_is_a_connect_error_naming_it() {
    let dir = short_dir();
    let dead = dir.path().join("dead-be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(dead.clone()));

    match connect_err(&request_for(&broker.path)) {
        ClientError::Connect { endpoint, .. } => assert_eq!(endpoint, dead),
        other => panic!("expected Connect, got {other:?}"),
    }
    broker.join();
}

// ---------------------------------------------------------------------------
// Hello-skip (CLI-3), the seam (CLI-2) and the disable switch (CLI-1)
// ---------------------------------------------------------------------------

/// CLI-3.
#[test]
fn hello_skip_uses_the_cached_backend_and_never_contacts_the_broker() {
    let dir = short_dir();
    let cached = EchoBackend::spawn(dir.path(), "cached.sock");
    let broker_path = dir.path().join("broker.sock");
    let broker = UnixListener::bind(&broker_path).expect("bind broker");
    let request = ConnectRequest {
        client_version: VERSION.into(),
        cached_backend: Some(cached.path.clone()),
        ..request_for(&broker_path)
    };

    let mut connection = client::connect(&request, &settings()).expect("connect");

    assert_eq!(connection.route, Route::HelloSkip);
    assert_eq!(connection.endpoint, cached.path);
    assert!(connection.negotiated.is_none());
    assert_echoes(&mut connection.stream);
    assert!(never_contacted(&broker), "the broker saw a connection");
    drop(connection);
    cached.join();
}

/// CLI-3.
#[test]
fn hello_skip_falls_back_to_the_hello_when_the_cache_is_dead() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(backend.path.clone()));
    let request = ConnectRequest {
        client_version: VERSION.into(),
        cached_backend: Some(dir.path().join("gone.sock")),
        ..request_for(&broker.path)
    };

    let mut connection = client::connect(&request, &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_eq!(connection.endpoint, backend.path);
    assert_echoes(&mut connection.stream);
    drop(connection);
    broker.join();
    backend.join();
}

/// CLI-3.
#[test]
fn hello_skip_does_not_apply_when_the_versions_differ() {
    let dir = short_dir();
    let cached_path = dir.path().join("cached.sock");
    let cached = UnixListener::bind(&cached_path).expect("bind cached");
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(backend.path.clone()));
    let request = ConnectRequest {
        client_version: "1.2.4".into(),
        cached_backend: Some(cached_path),
        ..request_for(&broker.path)
    };

    let mut connection = client::connect(&request, &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_echoes(&mut connection.stream);
    assert!(never_contacted(&cached), "the cached endpoint was tried");
    drop(connection);
    broker.join();
    backend.join();
}

/// CLI-2.
#[test]
fn the_seam_connects_straight_to_the_fake_backend() {
    let dir = short_dir();
    let seam = EchoBackend::spawn(dir.path(), "seam.sock");
    let broker_path = dir.path().join("broker.sock");
    let broker = UnixListener::bind(&broker_path).expect("bind broker");
    let env = MapEnv::from_pairs([(FAKE_BACKEND, seam.path.to_string_lossy().into_owned())]);
    let settings = ClientSettings::from_env(&env).expect("valid");

    let mut connection = client::connect(&request_for(&broker_path), &settings).expect("connect");

    assert_eq!(connection.route, Route::FakeBackendSeam);
    assert_eq!(connection.endpoint, seam.path);
    assert_echoes(&mut connection.stream);
    assert!(never_contacted(&broker), "the broker saw a connection");
    drop(connection);
    seam.join();
}

/// CLI-2.
#[test]
fn a_dead_seam_is_returned_as_is_without_fallback() {
    let dir = short_dir();
    let seam = dir.path().join("seam.sock");
    let broker_path = dir.path().join("broker.sock");
    let broker = UnixListener::bind(&broker_path).expect("bind broker");
    let settings = ClientSettings {
        fake_backend: Some(seam.clone()),
        ..ClientSettings::default()
    };

    let err = client::connect(&request_for(&broker_path), &settings).expect_err("fails");

    assert!(
        matches!(&err, ClientError::Connect { endpoint, .. } if *endpoint == seam),
        "{err:?}"
    );
    assert!(never_contacted(&broker), "fell back to the broker");
}

/// CLI-1, CLI-2.
#[test]
fn disable_overrides_the_seam() {
    let dir = short_dir();
    let seam_path = dir.path().join("seam.sock");
    let seam = UnixListener::bind(&seam_path).expect("bind seam");
    let env = MapEnv::from_pairs([
        (DISABLE, "1".to_owned()),
        (FAKE_BACKEND, seam_path.to_string_lossy().into_owned()),
    ]);
    let settings = ClientSettings::from_env(&env).expect("valid");

    let err =
        client::connect(&request_for(&dir.path().join("b.sock")), &settings).expect_err("disabled");

    assert!(matches!(err, ClientError::Disabled), "{err:?}");
    assert!(never_contacted(&seam), "the seam was used");
}

/// CLI-1.
#[test]
fn an_invalid_disable_value_is_a_config_error_naming_it() {
    let env = MapEnv::from_pairs([(DISABLE, "yes")]);
    let err = ClientSettings::from_env(&env).expect_err("invalid");
    assert!(
        matches!(&err, ClientError::Config { variable, value, .. } if *variable == DISABLE && value == "yes"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(DISABLE) && text.contains("yes"), "{text}");
}

/// CLI-6.
#[test]
fn an_invalid_timeout_is_a_config_error_naming_it() {
    let env = MapEnv::from_pairs([(CLIENT_TIMEOUT_MS, "soon")]);
    let err = ClientSettings::from_env(&env).expect_err("invalid");
    assert!(
        matches!(&err, ClientError::Config { variable, value, .. } if *variable == CLIENT_TIMEOUT_MS && value == "soon"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Handoff adoption (HOF-8)
// ---------------------------------------------------------------------------

/// A broker that negotiates with a token, writes `after` on the same
/// socket, then echoes on it until the client closes.
fn handoff_broker(dir: &Path, backend: PathBuf, after: Vec<u8>) -> FakeBroker {
    FakeBroker::spawn(dir, move |mut stream, request| {
        write_frame(&mut stream, &negotiated_for(request, &backend, Some(TOKEN)))
            .expect("broker writes");
        stream.write_all(&after).expect("broker writes");
        echo(stream);
    })
}

fn framed(frame: &Frame) -> Vec<u8> {
    encode_frame(frame).expect("small frame")
}

fn adopting(broker: &Path) -> ConnectRequest {
    ConnectRequest {
        adopt_handoff: true,
        handoff_ready_timeout: PATIENT,
        ..request_for(broker)
    }
}

/// HOF-8, HOF-5 (client side).
#[test]
fn an_accepted_handoff_event_hands_over_the_broker_connection() {
    let dir = short_dir();
    let backend_path = dir.path().join("be.sock");
    let backend = UnixListener::bind(&backend_path).expect("bind backend");
    let broker = handoff_broker(
        dir.path(),
        backend_path.clone(),
        framed(&handoff_event(&TOKEN, 77)),
    );

    let mut connection = client::connect(&adopting(&broker.path), &settings()).expect("connect");

    assert_eq!(connection.route, Route::HandlePassed);
    assert_eq!(connection.endpoint, backend_path);
    assert_eq!(connection.stream.read_timeout().expect("timeout"), None);
    assert_echoes(&mut connection.stream);
    assert!(never_contacted(&backend), "reconnected although adopted");
    drop(connection);
    broker.join();
}

#[test]
fn bytes_after_the_handoff_event_stay_on_the_adopted_connection() {
    let dir = short_dir();
    let mut after = framed(&handoff_event(&TOKEN, 77));
    after.extend_from_slice(b"early");
    let broker = handoff_broker(dir.path(), dir.path().join("be.sock"), after);

    let mut connection = client::connect(&adopting(&broker.path), &settings()).expect("connect");

    assert_eq!(connection.route, Route::HandlePassed);
    let mut buf = [0u8; 5];
    connection
        .stream
        .set_read_timeout(Some(PATIENT))
        .expect("timeout");
    connection.stream.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"early");
    drop(connection);
    broker.join();
}

/// What a broker sends after Negotiated that must not complete a handoff.
fn not_accepted_event() -> Vec<u8> {
    let mut frame = handoff_ack(&HandoffAck {
        token: Bytes::copy_from_slice(&TOKEN),
        accepted: false,
        error_detail: "handoff token mismatch".into(),
        correlation_id: 77,
    });
    frame.kind = FrameKind::Event as i32;
    framed(&frame)
}

fn wrong_token_event() -> Vec<u8> {
    framed(&handoff_event(&[0x11; 16], 77))
}

fn response_instead_of_event() -> Vec<u8> {
    let mut frame = handoff_event(&TOKEN, 77);
    frame.kind = FrameKind::Response as i32;
    framed(&frame)
}

fn undecodable_ack() -> Vec<u8> {
    let mut frame = handoff_event(&TOKEN, 77);
    frame.payload = Bytes::from_static(&[0xff, 0xff]);
    framed(&frame)
}

/// HOF-8.
#[rstest::rstest]
#[case::wrong_token(wrong_token_event())]
#[case::not_accepted(not_accepted_event())]
#[case::response_instead_of_event(response_instead_of_event())]
#[case::undecodable_ack(undecodable_ack())]
#[case::garbage_bytes(vec![0x07, 0x07])]
fn a_handoff_event_that_does_not_match_falls_back_to_the_backend_pipe(#[case] after: Vec<u8>) {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = handoff_broker(dir.path(), backend.path.clone(), after);

    let mut connection = client::connect(&adopting(&broker.path), &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_eq!(connection.endpoint, backend.path);
    assert_echoes(&mut connection.stream);
    drop(connection);
    broker.join();
    backend.join();
}

/// HOF-8, HOF-6 (client side).
#[test]
fn no_handoff_event_within_the_timeout_falls_back_to_the_backend_pipe() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = handoff_broker(dir.path(), backend.path.clone(), Vec::new());
    let request = ConnectRequest {
        handoff_ready_timeout: SHORT,
        ..adopting(&broker.path)
    };

    let mut connection = client::connect(&request, &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_echoes(&mut connection.stream);
    drop(connection);
    broker.join();
    backend.join();
}

#[test]
fn a_broker_closing_after_negotiated_falls_back_to_the_backend_pipe() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let backend_path = backend.path.clone();
    let broker = FakeBroker::spawn(dir.path(), move |mut stream, request| {
        write_frame(
            &mut stream,
            &negotiated_for(request, &backend_path, Some(TOKEN)),
        )
        .expect("broker writes");
    });

    let mut connection = client::connect(&adopting(&broker.path), &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_echoes(&mut connection.stream);
    drop(connection);
    broker.join();
    backend.join();
}

/// HOF-8: adoption is opt-in (CLI-5).
#[test]
fn without_opt_in_a_handoff_is_not_adopted() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = handoff_broker(
        dir.path(),
        backend.path.clone(),
        framed(&handoff_event(&TOKEN, 77)),
    );

    let mut connection = client::connect(&request_for(&broker.path), &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_echoes(&mut connection.stream);
    let (_, hello) = broker.hello();
    assert_eq!(
        hello.client_capabilities & CAP_HANDLE_PASSING,
        CAP_HANDLE_PASSING,
        "CLI-5: advertised regardless of opt-in"
    );
    drop(connection);
    broker.join();
    backend.join();
}

#[test]
fn a_token_without_the_capability_bit_is_not_adopted() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let backend_path = backend.path.clone();
    let broker = FakeBroker::spawn(dir.path(), move |mut stream, request| {
        let hello: Hello = decode_payload(request).expect("hello");
        let mut offer = negotiated(&hello, &backend_path.to_string_lossy(), 1, Some(TOKEN));
        offer.server_capabilities = 0;
        let reply = negotiated_reply(&ReplyContext::echo(request), offer);
        write_frame(&mut stream, &reply).expect("broker writes");
        // A client that does not adopt may already have closed: the event
        // then finds no reader, which is the point.
        let _ = stream.write_all(&framed(&handoff_event(&TOKEN, 77)));
        echo(stream);
    });

    let mut connection = client::connect(&adopting(&broker.path), &settings()).expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_echoes(&mut connection.stream);
    drop(connection);
    broker.join();
    backend.join();
}

// ---------------------------------------------------------------------------
// The raw Hello exchange
// ---------------------------------------------------------------------------

#[test]
fn hello_returns_the_reply_frame_and_the_open_stream() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), |mut stream, request| {
        write_frame(
            &mut stream,
            &refused_reply(&ReplyContext::echo(request), &Refusal::BelowMinVersion),
        )
        .expect("broker writes");
        echo(stream);
    });
    let hello = ConnectRequest::new(&broker.path, SERVICE, VERSION).hello_message();

    let mut exchange = client::hello(&broker.path, &hello, 4242, PATIENT).expect("exchange");

    assert_eq!(exchange.request.request_id, 4242);
    assert_eq!(exchange.reply_frame.request_id, 4242);
    assert_eq!(exchange.broker, broker.path);
    let refused = match exchange.reply.result.clone() {
        Some(broker_conformance::proto::v1::hello_reply::Result::Refused(r)) => r,
        other => panic!("expected Refused, got {other:?}"),
    };
    assert_eq!(refused.code, ErrorCode::ErrorVersionBlocked as i32);
    assert_echoes(&mut exchange.stream);
    drop(exchange);
    broker.join();
}

#[test]
fn establish_after_hello_reaches_the_backend() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(backend.path.clone()));
    let request = request_for(&broker.path);

    let exchange =
        client::hello_frame(&broker.path, &request.hello_frame(9), PATIENT).expect("exchange");
    let mut connection = client::establish(exchange, &request).expect("establish");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    assert_echoes(&mut connection.stream);
    drop(connection);
    broker.join();
    backend.join();
}

// ---------------------------------------------------------------------------
// Admin (ADM-1)
// ---------------------------------------------------------------------------

fn answer_admin(reply: AdminReply) -> impl FnOnce(UnixStream, &Frame) + Send + 'static {
    move |mut stream, request| {
        write_frame(
            &mut stream,
            &admin_reply(&ReplyContext::echo(request), &reply),
        )
        .expect("broker writes")
    }
}

#[test]
fn admin_round_trip_returns_the_reply() {
    let dir = short_dir();
    let body = "broker_instance: t\naccepting_hello: true\n";
    let broker = FakeBroker::spawn(dir.path(), answer_admin(admin_text(body, 0)));
    let request = AdminRequest {
        verb: AdminVerb::Status as i32,
        json: true,
        ..AdminRequest::default()
    };

    let reply = client::admin(&broker.path, &request, PATIENT).expect("admin");

    assert_eq!(reply, admin_text(body, 0));
    let frame = broker.request();
    check_envelope(&frame, FrameKind::Request, PAYLOAD_PROTOCOL_ADMIN).expect("ADM-1 request");
    let sent: AdminRequest = decode_payload(&frame).expect("an AdminRequest");
    assert_eq!(sent, request);
    broker.join();
}

#[test]
fn an_admin_reply_under_the_wrong_protocol_is_an_envelope_error() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), |mut stream, request| {
        let mut reply = admin_reply(&ReplyContext::echo(request), &admin_text("ok\n", 0));
        reply.payload_protocol = PAYLOAD_PROTOCOL_CONTROL;
        write_frame(&mut stream, &reply).expect("broker writes")
    });

    let err = client::admin(&broker.path, &AdminRequest::default(), PATIENT).expect_err("fails");
    assert!(
        matches!(
            err,
            ClientError::Envelope(EnvelopeError::PayloadProtocol { .. })
        ),
        "{err:?}"
    );
    broker.join();
}

#[test]
fn an_undecodable_admin_reply_is_malformed() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), |mut stream, request| {
        let mut reply = admin_reply(&ReplyContext::echo(request), &admin_text("ok\n", 0));
        reply.payload = Bytes::from_static(&[0xff, 0xff, 0xff]);
        write_frame(&mut stream, &reply).expect("broker writes")
    });

    let err = client::admin(&broker.path, &AdminRequest::default(), PATIENT).expect_err("fails");
    assert!(
        matches!(&err, ClientError::Malformed(m) if m.contains("AdminReply")),
        "{err:?}"
    );
    broker.join();
}

#[test]
fn an_admin_request_closed_without_reply_is_an_error() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), |stream, _| drop(stream));

    let err = client::admin(&broker.path, &AdminRequest::default(), PATIENT).expect_err("fails");
    assert!(matches!(err, ClientError::Framing(_)), "{err:?}");
    broker.join();
}

#[test]
fn an_admin_request_to_a_silent_broker_times_out() {
    let dir = short_dir();
    let path = dir.path().join("broker.sock");
    let _listener = UnixListener::bind(&path).expect("bind");

    let err = client::admin(&path, &AdminRequest::default(), SHORT).expect_err("fails");
    assert!(
        matches!(err, ClientError::Timeout { during, .. } if during == "waiting for the admin reply"),
        "{err:?}"
    );
}

#[test]
fn an_admin_request_without_a_broker_is_a_connect_error() {
    let dir = short_dir();
    let path = dir.path().join("nobody.sock");

    let err = client::admin(&path, &AdminRequest::default(), PATIENT).expect_err("fails");
    assert!(
        matches!(&err, ClientError::Connect { endpoint, .. } if *endpoint == path),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// tokio
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_tokio_client_negotiates_and_reaches_the_backend() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(backend.path.clone()));

    let mut connection = asynchronous::connect(&request_for(&broker.path), &settings())
        .await
        .expect("connect");

    assert_eq!(connection.route, Route::BrokerNegotiated);
    connection.stream.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    connection.stream.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"ping");
    drop(connection);
    broker.join();
    backend.join();
}

#[tokio::test]
async fn the_tokio_client_reports_refusals_and_admin_replies() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), refuse(Refusal::ServiceUnknown.to_refused()));
    let err = asynchronous::connect(&request_for(&broker.path), &settings())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            ClientError::Refused {
                code: ErrorCode::ErrorServiceUnknown,
                ..
            }
        ),
        "{err:?}"
    );
    broker.join();

    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), answer_admin(admin_text("ok\n", 0)));
    let reply = asynchronous::admin(&broker.path, &AdminRequest::default(), PATIENT)
        .await
        .expect("admin");
    assert_eq!(reply.body, "ok\n");
    broker.join();
}

// ---------------------------------------------------------------------------
// The `hello` and `admin` subcommands
// ---------------------------------------------------------------------------

/// Runs the binary with a clean client environment.
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    support::cli_output(
        support::cli_command()
            .env_remove(DISABLE)
            .env_remove(FAKE_BACKEND)
            .env_remove(CLIENT_TIMEOUT_MS)
            .args(args),
    )
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn hello_cli_prints_negotiated_and_the_route_and_exits_0() {
    let dir = short_dir();
    let backend = EchoBackend::spawn(dir.path(), "be.sock");
    let broker = FakeBroker::spawn(dir.path(), negotiate(backend.path.clone()));

    let (code, stdout, stderr) = cli(&[
        "hello",
        "--socket",
        path_arg(&broker.path),
        "--service",
        SERVICE,
        "--version",
        VERSION,
        "--timeout-ms",
        "20000",
    ]);

    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("reply: Negotiated"), "{stdout}");
    assert!(stdout.contains("negotiated_protocol: 1"), "{stdout}");
    assert!(
        stdout.contains(&format!("daemon_version: {VERSION}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("backend_pipe: {}", backend.path.display())),
        "{stdout}"
    );
    assert!(stdout.contains("keepalive_interval_secs: 1800"), "{stdout}");
    assert!(stdout.contains("route: broker-negotiated"), "{stdout}");
    broker.join();
    backend.join();
}

#[test]
fn hello_cli_json_is_one_object_with_reply_and_route() {
    let dir = short_dir();
    let backend_path = dir.path().join("be.sock");
    let backend = UnixListener::bind(&backend_path).expect("bind backend");
    let broker = handoff_broker(
        dir.path(),
        backend_path.clone(),
        framed(&handoff_event(&TOKEN, 77)),
    );

    let (code, stdout, stderr) = cli(&[
        "hello",
        "--socket",
        path_arg(&broker.path),
        "--service",
        SERVICE,
        "--version",
        VERSION,
        "--adopt",
        "--json",
    ]);

    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let value: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(value["reply"]["result"], "negotiated");
    assert_eq!(value["reply"]["handle_passed_token"], "5a".repeat(16));
    assert_eq!(value["reply"]["server_capabilities"], 1);
    assert_eq!(value["route"], "handle-passed");
    assert_eq!(value["endpoint"], backend_path.to_string_lossy().as_ref());
    assert!(never_contacted(&backend));
    broker.join();
}

#[test]
fn hello_cli_prints_the_refusal_and_exits_1() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), refuse(Refusal::BelowMinVersion.to_refused()));

    let (code, stdout, stderr) = cli(&[
        "hello",
        "--socket",
        path_arg(&broker.path),
        "--service",
        SERVICE,
        "--version",
        VERSION,
    ]);

    assert_eq!(code, Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("reply: Refused"), "{stdout}");
    assert!(
        stdout.contains("code: ERROR_VERSION_BLOCKED (8)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reason: wanted_version is below min_version"),
        "{stdout}"
    );
    assert!(stdout.contains("retry_after_ms: 30000"), "{stdout}");
    assert!(stdout.contains("daemon_min_protocol: 1"), "{stdout}");
    broker.join();
}

#[test]
fn hello_cli_exits_2_when_the_broker_is_missing() {
    let dir = short_dir();
    let path = dir.path().join("nobody.sock");

    let (code, _, stderr) = cli(&[
        "hello",
        "--socket",
        path_arg(&path),
        "--service",
        SERVICE,
        "--version",
        VERSION,
    ]);

    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(path_arg(&path)), "{stderr}");
}

#[test]
fn hello_cli_exits_2_on_a_malformed_reply() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), negotiate(PathBuf::new()));

    let (code, stdout, stderr) = cli(&[
        "hello",
        "--socket",
        path_arg(&broker.path),
        "--service",
        SERVICE,
        "--version",
        VERSION,
    ]);

    assert_eq!(code, Some(2), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("reply: Negotiated"), "{stdout}");
    assert!(stderr.contains("backend_pipe"), "{stderr}");
    broker.join();
}

/// Runs `admin` against a broker answering `reply`; returns the exit code,
/// stdout and the request the broker received.
fn admin_cli(args: &[&str], reply: AdminReply) -> (Option<i32>, String, AdminRequest) {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), answer_admin(reply));
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--socket", path_arg(&broker.path)]);

    let (code, stdout, stderr) = cli(&full);

    assert!(stderr.is_empty(), "{stderr}");
    let request = decode_payload(&broker.request()).expect("an AdminRequest");
    broker.join();
    (code, stdout, request)
}

#[test]
fn admin_cli_prints_the_body_verbatim_and_exits_0() {
    let (code, stdout, request) = admin_cli(&["healthz"], admin_text("ok\n", 0));

    assert_eq!(code, Some(0));
    assert_eq!(stdout, "ok\n");
    assert_eq!(request.verb, AdminVerb::Healthz as i32);
    assert!(!request.json);
}

#[test]
fn admin_cli_exits_with_the_reply_exit_code() {
    let (code, stdout, request) = admin_cli(&["readyz"], admin_text("not ready\n", 1));

    assert_eq!(code, Some(1));
    assert_eq!(stdout, "not ready\n");
    assert_eq!(request.verb, AdminVerb::Readyz as i32);
}

#[test]
fn admin_cli_clamps_large_exit_codes_to_255() {
    let (code, _, _) = admin_cli(&["status"], admin_text("", 300));
    assert_eq!(code, Some(255));
}

#[test]
fn admin_cli_sends_the_verb_fields() {
    let (_, _, request) = admin_cli(
        &["backend-health", "--service", "zccache", "--json"],
        admin_text("{}", 0),
    );
    assert_eq!(request.verb, AdminVerb::BackendHealth as i32);
    assert_eq!(request.service_name, "zccache");
    assert!(request.json);

    let (_, _, request) = admin_cli(
        &["shutdown", "--drain-deadline-ms", "250"],
        admin_text("broker shutting down\n", 0),
    );
    assert_eq!(request.verb, AdminVerb::Shutdown as i32);
    assert_eq!(request.drain_deadline_ms, 250);

    let (_, _, request) = admin_cli(
        &["diagnose", "--output", "/tmp/diag.json"],
        admin_text("{}", 0),
    );
    assert_eq!(request.verb, AdminVerb::Diagnose as i32);
    assert_eq!(request.output_path, "/tmp/diag.json");

    let (_, _, request) = admin_cli(&["list-instances"], admin_text("{}", 0));
    assert_eq!(request.verb, AdminVerb::ListInstances as i32);
}

#[test]
fn admin_cli_exits_2_when_the_broker_is_missing() {
    let dir = short_dir();
    let path = dir.path().join("nobody.sock");

    let (code, stdout, stderr) = cli(&["admin", "status", "--socket", path_arg(&path)]);

    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.starts_with("error: admin request to"), "{stderr}");
}

#[test]
fn admin_cli_exits_2_on_a_reply_without_an_admin_envelope() {
    let dir = short_dir();
    let broker = FakeBroker::spawn(dir.path(), |mut stream, request| {
        let hello = hello_request(&Hello::default(), request.request_id);
        write_frame(&mut stream, &hello).expect("broker writes")
    });

    let (code, stdout, stderr) = cli(&["admin", "metrics", "--socket", path_arg(&broker.path)]);

    assert_eq!(code, Some(2), "{stdout}");
    assert!(stderr.contains("ENV-1"), "{stderr}");
    broker.join();
}
