//! HEL-1…HEL-11 row by row with their boundary values, the check order,
//! and the refusal table of spec §4 (code, reason, retry_after_ms).

use broker_conformance::proto::v1::{ErrorCode, Frame, FrameKind, Hello, PayloadEncoding};
use broker_conformance::wire::frames::hello_request;
use broker_conformance::wire::{Refusal, validate_hello};
use broker_conformance::wire::{validate_service_name, validate_version};
use bytes::Bytes;
use rstest::rstest;

fn good_hello() -> Hello {
    Hello {
        client_min_protocol: 1,
        client_max_protocol: 1,
        service_name: "zccache".into(),
        wanted_version: "1.11.20".into(),
        ..Hello::default()
    }
}

fn check(hello: Hello, kernel_pid: u32) -> Result<Hello, Refusal> {
    validate_hello(&hello_request(&hello, 1), kernel_pid)
}

fn with(edit: impl FnOnce(&mut Hello)) -> Result<Hello, Refusal> {
    let mut hello = good_hello();
    edit(&mut hello);
    check(hello, 0)
}

#[test]
fn a_well_formed_hello_passes_and_comes_back_decoded() {
    assert_eq!(check(good_hello(), 0), Ok(good_hello()));
}

#[rstest]
#[case::zero(0)]
#[case::two(2)]
#[case::max(u32::MAX)]
fn hel_1_envelope_version_other_than_1(#[case] version: u32) {
    let mut frame = hello_request(&good_hello(), 1);
    frame.envelope_version = version;
    assert_eq!(validate_hello(&frame, 0), Err(Refusal::EnvelopeVersion));
}

#[rstest]
#[case::response(FrameKind::Response as i32)]
#[case::event(FrameKind::Event as i32)]
#[case::cancel(FrameKind::Cancel as i32)]
#[case::unknown_number(7)]
#[case::negative(-1)]
fn hel_2_kind_other_than_request(#[case] kind: i32) {
    let mut frame = hello_request(&good_hello(), 1);
    frame.kind = kind;
    assert_eq!(validate_hello(&frame, 0), Err(Refusal::FrameKindNotRequest));
}

#[rstest]
#[case::one(1)]
#[case::probe(0xB232)]
#[case::handoff(0xD0FF)]
#[case::private_use(0xF000)]
fn hel_3_payload_protocol_other_than_control(#[case] protocol: u32) {
    let mut frame = hello_request(&good_hello(), 1);
    frame.payload_protocol = protocol;
    assert_eq!(
        validate_hello(&frame, 0),
        Err(Refusal::PayloadProtocolNotControl)
    );
}

#[rstest]
#[case::zstd(PayloadEncoding::Zstd as i32)]
#[case::snappy(PayloadEncoding::Snappy as i32)]
#[case::lz4(PayloadEncoding::Lz4 as i32)]
#[case::unknown_number(9)]
fn hel_4_compressed_payload(#[case] encoding: i32) {
    let mut frame = hello_request(&good_hello(), 1);
    frame.payload_encoding = encoding;
    assert_eq!(validate_hello(&frame, 0), Err(Refusal::PayloadCompressed));
}

#[rstest]
#[case::truncated_length(&[0x1a, 0x05, b'a'])]
#[case::bad_wire_type(&[0x0f])]
#[case::invalid_utf8_name(&[0x1a, 0x01, 0xff])]
fn hel_5_payload_that_is_not_a_hello(#[case] payload: &'static [u8]) {
    let mut frame = hello_request(&good_hello(), 1);
    frame.payload = Bytes::from_static(payload);
    assert_eq!(validate_hello(&frame, 0), Err(Refusal::MalformedHello));
}

#[test]
fn hel_5_empty_payload_decodes_to_defaults_and_fails_hel_6() {
    let mut frame = hello_request(&good_hello(), 1);
    frame.payload = Bytes::new();
    assert_eq!(validate_hello(&frame, 0), Err(Refusal::ProtocolRange));
}

#[rstest]
#[case::exactly_one(1, 1, true)]
#[case::wide(0, 9, true)]
#[case::from_zero(0, 1, true)]
#[case::up_to_three(1, 3, true)]
#[case::both_zero(0, 0, false)]
#[case::above(2, 3, false)]
#[case::inverted(1, 0, false)]
#[case::max_only(u32::MAX, u32::MAX, false)]
fn hel_6_protocol_range_must_include_1(#[case] min: u32, #[case] max: u32, #[case] ok: bool) {
    let result = with(|h| {
        h.client_min_protocol = min;
        h.client_max_protocol = max;
    });
    assert_eq!(result.is_ok(), ok, "{min}..{max}: {result:?}");
    if !ok {
        assert_eq!(result, Err(Refusal::ProtocolRange));
    }
}

#[rstest]
#[case::one_char("a", true)]
#[case::digits_and_dash("0-9-a", true)]
#[case::sixty_four(&"a".repeat(64), true)]
#[case::sixty_five(&"a".repeat(65), false)]
#[case::empty("", false)]
#[case::uppercase("Foo", false)]
#[case::all_uppercase("ZCCACHE", false)]
#[case::underscore("foo_bar", false)]
#[case::dot("foo.bar", false)]
#[case::space("foo bar", false)]
#[case::non_ascii("föö", false)]
#[case::slash("a/b", false)]
fn hel_7_service_name_grammar(#[case] name: &str, #[case] ok: bool) {
    let result = with(|h| h.service_name = name.into());
    assert_eq!(result.is_ok(), ok, "{name:?}: {result:?}");
    assert_eq!(validate_service_name(name).is_ok(), ok);
    if !ok {
        assert_eq!(result, Err(Refusal::InvalidServiceName));
    }
}

/// A valid version of exactly `len` bytes (len ≥ 7).
fn version_of_len(len: usize) -> String {
    let v = format!("1.0.0-{}", "a".repeat(len - 6));
    assert_eq!(v.len(), len);
    v
}

#[rstest]
#[case::plain("1.11.20", true)]
#[case::leading_zeros("01.002.0003", true)]
#[case::pre_release("1.0.0-rc.1", true)]
#[case::pre_release_dots_only("1.0.0-.", true)]
#[case::big_numbers("99999999999999999999.0.0", true)]
#[case::sixty_four_bytes(&version_of_len(64), true)]
#[case::sixty_five_bytes(&version_of_len(65), false)]
#[case::v_prefix("v1.0.0", false)]
#[case::two_parts("1.0", false)]
#[case::uppercase_pre_release("1.0.0-RC", false)]
#[case::dash_in_pre_release("1.0.0-a-b", false)]
#[case::build_metadata("1.0.0+b", false)]
#[case::empty("", false)]
#[case::empty_pre_release("1.0.0-", false)]
#[case::empty_part("1..0", false)]
#[case::four_parts("1.0.0.0", false)]
#[case::leading_space(" 1.0.0", false)]
#[case::trailing_newline("1.0.0\n", false)]
#[case::letters("a.b.c", false)]
fn hel_8_wanted_version_grammar_and_length(#[case] version: &str, #[case] ok: bool) {
    let result = with(|h| h.wanted_version = version.into());
    assert_eq!(result.is_ok(), ok, "{version:?}: {result:?}");
    assert_eq!(validate_version(version).is_ok(), ok);
    if !ok {
        assert_eq!(result, Err(Refusal::InvalidWantedVersion));
    }
}

#[rstest]
#[case::empty(0, true)]
#[case::at_limit(128, true)]
#[case::over_limit(129, false)]
fn hel_9_client_version_at_most_128_bytes(#[case] len: usize, #[case] ok: bool) {
    let result = with(|h| h.client_version = "x".repeat(len));
    assert_eq!(result.is_ok(), ok);
    if !ok {
        assert_eq!(result, Err(Refusal::ClientVersionTooLong));
    }
}

#[rstest]
#[case::name_at_limit(64, 0, true)]
#[case::version_at_limit(0, 64, true)]
#[case::name_over(65, 0, false)]
#[case::version_over(0, 65, false)]
#[case::both_over(65, 65, false)]
fn hel_10_client_lib_fields_at_most_64_bytes(
    #[case] name: usize,
    #[case] version: usize,
    #[case] ok: bool,
) {
    let result = with(|h| {
        h.client_lib_name = "n".repeat(name);
        h.client_lib_version = "v".repeat(version);
    });
    assert_eq!(result.is_ok(), ok);
    if !ok {
        assert_eq!(result, Err(Refusal::ClientLibTooLong));
    }
}

#[rstest]
#[case::not_claimed(0, 4242, true)]
#[case::kernel_unknown(4242, 0, true)]
#[case::matching(4242, 4242, true)]
#[case::forged(4242, 4243, false)]
fn hel_11_claimed_pid_must_match_the_kernel(
    #[case] claimed: u32,
    #[case] kernel: u32,
    #[case] ok: bool,
) {
    let mut hello = good_hello();
    hello.peer_pid = claimed;
    let result = check(hello, kernel);
    assert_eq!(result.is_ok(), ok);
    if !ok {
        assert_eq!(result, Err(Refusal::PeerPidMismatch));
    }
}

#[test]
fn the_first_failing_check_wins() {
    let everything_wrong = Hello {
        client_min_protocol: 5,
        client_max_protocol: 5,
        service_name: "BAD".into(),
        wanted_version: "x".into(),
        client_version: "c".repeat(200),
        peer_pid: 1,
        ..Hello::default()
    };
    let mut frame = hello_request(&everything_wrong, 1);
    frame.envelope_version = 2;
    frame.kind = FrameKind::Event as i32;
    frame.payload_protocol = 3;
    frame.payload_encoding = 1;
    type Fix = fn(&mut Frame);
    let steps: [(Fix, Refusal); 4] = [
        (|f| f.envelope_version = 1, Refusal::EnvelopeVersion),
        (|f| f.kind = 0, Refusal::FrameKindNotRequest),
        (
            |f| f.payload_protocol = 0,
            Refusal::PayloadProtocolNotControl,
        ),
        (|f| f.payload_encoding = 0, Refusal::PayloadCompressed),
    ];
    for (fix, expected) in steps {
        assert_eq!(validate_hello(&frame, 2), Err(expected));
        fix(&mut frame);
    }
    let order = [
        Refusal::ProtocolRange,
        Refusal::InvalidServiceName,
        Refusal::InvalidWantedVersion,
        Refusal::ClientVersionTooLong,
        Refusal::PeerPidMismatch,
    ];
    let mut hello = everything_wrong;
    for expected in order {
        assert_eq!(check(hello.clone(), 2), Err(expected.clone()));
        match expected {
            Refusal::ProtocolRange => hello.client_min_protocol = 1,
            Refusal::InvalidServiceName => hello.service_name = "ok".into(),
            Refusal::InvalidWantedVersion => hello.wanted_version = "1.0.0".into(),
            Refusal::ClientVersionTooLong => hello.client_version.clear(),
            _ => hello.peer_pid = 2,
        }
    }
    assert!(check(hello, 2).is_ok());
}

/// The §4 table, written out from the spec: clause, code, reason, retry.
#[rstest]
#[case(
    Refusal::UnsupportedFramingVersion,
    "FRM-4",
    ErrorCode::ErrorVersionUnsupported,
    "unsupported framing version",
    0
)]
#[case(
    Refusal::HelloTooLarge,
    "FRM-3",
    ErrorCode::ErrorPeerRejected,
    "initial Hello frame exceeds 64 KiB",
    0
)]
#[case(
    Refusal::MalformedFrame,
    "FRM-7",
    ErrorCode::ErrorPeerRejected,
    "malformed broker Frame",
    0
)]
#[case(
    Refusal::IncompleteFrame,
    "FRM-8",
    ErrorCode::ErrorPeerRejected,
    "incomplete Hello frame",
    0
)]
#[case(
    Refusal::EnvelopeVersion,
    "HEL-1",
    ErrorCode::ErrorVersionUnsupported,
    "frame envelope_version is not v1",
    0
)]
#[case(
    Refusal::FrameKindNotRequest,
    "HEL-2",
    ErrorCode::ErrorPeerRejected,
    "Hello frame kind must be REQUEST",
    0
)]
#[case(
    Refusal::PayloadProtocolNotControl,
    "HEL-3",
    ErrorCode::ErrorPeerRejected,
    "Hello frame payload_protocol must be control-plane",
    0
)]
#[case(
    Refusal::PayloadCompressed,
    "HEL-4",
    ErrorCode::ErrorPeerRejected,
    "Hello payload must not be compressed",
    0
)]
#[case(
    Refusal::MalformedHello,
    "HEL-5",
    ErrorCode::ErrorPeerRejected,
    "malformed Hello payload",
    0
)]
#[case(
    Refusal::ProtocolRange,
    "HEL-6",
    ErrorCode::ErrorVersionUnsupported,
    "client protocol range does not include v1",
    0
)]
#[case(
    Refusal::InvalidServiceName,
    "HEL-7",
    ErrorCode::ErrorPeerRejected,
    "invalid service_name",
    0
)]
#[case(
    Refusal::InvalidWantedVersion,
    "HEL-8",
    ErrorCode::ErrorPeerRejected,
    "invalid wanted_version",
    0
)]
#[case(
    Refusal::ClientVersionTooLong,
    "HEL-9",
    ErrorCode::ErrorPeerRejected,
    "client_version exceeds 128 bytes",
    0
)]
#[case(
    Refusal::ClientLibTooLong,
    "HEL-10",
    ErrorCode::ErrorPeerRejected,
    "client_lib fields exceed 64 bytes",
    0
)]
#[case(
    Refusal::PeerPidMismatch,
    "HEL-11",
    ErrorCode::ErrorPeerRejected,
    "peer_pid does not match verified peer",
    0
)]
#[case(
    Refusal::AuthenticationFailed,
    "HEL-12",
    ErrorCode::ErrorPeerRejected,
    "authentication failed",
    0
)]
#[case(
    Refusal::ServiceUnknown,
    "HEL-13",
    ErrorCode::ErrorServiceUnknown,
    "service definition was not found",
    0
)]
#[case(
    Refusal::ServiceDefinitionUnloadable { detail: "bad path".into() },
    "HEL-14",
    ErrorCode::ErrorServiceUnknown,
    "service definition could not be loaded: bad path",
    0
)]
#[case(
    Refusal::BelowMinVersion,
    "HEL-15",
    ErrorCode::ErrorVersionBlocked,
    "wanted_version is below min_version",
    30_000
)]
#[case(
    Refusal::NotInAllowList,
    "HEL-16",
    ErrorCode::ErrorVersionBlocked,
    "wanted_version is not in version_allow_list",
    30_000
)]
#[case(
    Refusal::SpawnInProgress,
    "HEL-17",
    ErrorCode::ErrorRateLimited,
    "backend spawn already in progress",
    1_000
)]
#[case(
    Refusal::SpawnBudgetExhausted { retry_after_ms: 1234 },
    "HEL-18",
    ErrorCode::ErrorRateLimited,
    "backend spawn budget exhausted",
    1234
)]
#[case(
    Refusal::SpawnBudgetExhausted { retry_after_ms: 0 },
    "HEL-18",
    ErrorCode::ErrorRateLimited,
    "backend spawn budget exhausted",
    1
)]
#[case(
    Refusal::SpawnFailed { detail: "probe timed out".into() },
    "HEL-19",
    ErrorCode::ErrorBackendSpawnFailed,
    "backend spawn failed: probe timed out",
    1_000
)]
#[case(
    Refusal::ShuttingDown,
    "HEL-20",
    ErrorCode::ErrorShuttingDown,
    "broker is shutting down",
    1_000
)]
#[case(
    Refusal::FdPressure,
    "ENV-3",
    ErrorCode::ErrorFdPressure,
    "broker is under file-descriptor pressure",
    1_000
)]
fn refusal_table_matches_the_spec(
    #[case] refusal: Refusal,
    #[case] clause: &str,
    #[case] code: ErrorCode,
    #[case] reason: &str,
    #[case] retry: u64,
) {
    assert_eq!(refusal.clause(), clause);
    let refused = refusal.to_refused();
    assert_eq!(refused.code, code as i32);
    assert_eq!(refused.reason, reason);
    assert_eq!(refused.retry_after_ms, retry);
    assert_eq!(
        (refused.daemon_min_protocol, refused.daemon_max_protocol),
        (1, 1),
        "REF-1"
    );
    assert!(refused.details.is_empty(), "REF-3");
}
