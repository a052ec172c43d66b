//! Each check of `expect_records` and each of its failure messages, on
//! records built in memory.

use super::*;

fn spec(text: &str) -> RecordsSpec {
    toml::from_str(&format!("service = \"svc\"\n{text}")).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn started(version: &str, env: &[(&str, &str)]) -> Record {
    Record::Started {
        pid: 1,
        behavior: "echo".into(),
        service: "svc".into(),
        version: version.into(),
        backend_pipe: "/tmp/b".into(),
        listener: "inherited".into(),
        environment: env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        args: Vec::new(),
    }
}

fn offer() -> Record {
    Record::HandoffOffer {
        token: "0a0b".into(),
        correlation_id: 5,
        request_id: 5,
        service: "svc".into(),
        with_fd: true,
        explicit_handle: false,
    }
}

fn probe() -> Record {
    Record::Probe {
        request_id: 9,
        answered: true,
        nonce_len: 32,
        request_id_from_nonce: true,
    }
}

fn processes() -> Vec<(u32, Vec<Record>)> {
    vec![
        (
            1,
            vec![
                started("1.0.0", &[("PATH", "/bin"), ("LC_ALL", "C")]),
                offer(),
                probe(),
            ],
        ),
        (2, vec![started("2.0.0", &[])]),
    ]
}

fn judge(text: &str) -> Judgement {
    judge_records(&spec(text), &processes(), &Captures::default())
        .unwrap_or_else(|f| panic!("{text}: {f:?}"))
}

fn failure(text: &str, records: &[(u32, Vec<Record>)]) -> String {
    judge_records(&spec(text), records, &Captures::default())
        .err()
        .unwrap_or_else(|| panic!("{text}: a failure"))
        .message
}

#[test]
fn records_that_meet_everything_have_no_problems() {
    let j = judge(
        r#"version = "1.0.0"
           started = 1
           listener = "inherited"
           env = { PATH = "/bin", HOME = { absent = true } }
           env_only = ["PATH"]
           offers = 1
           offer = { with_fd = true, token = { hex = "0a0b" }, request_id_is_correlation_id = true }
           probes = 1
           probe = { nonce_len = 32, request_id = 9, request_id_from_nonce = true }"#,
    );
    assert_eq!(j, Judgement::default());
}

#[test]
fn counts_cover_every_version_unless_one_is_named() {
    assert_eq!(judge("started = 2").problems, Vec::<String>::new());
    assert_eq!(
        judge("version = \"2.0.0\"\nstarted = 3").problems,
        ["backends started: expected 3, got 1"]
    );
    assert_eq!(
        judge("offers = 0").problems,
        ["handoff offers: expected 0, got 1"]
    );
    assert_eq!(
        judge("probes = 2").problems,
        ["identity probes: expected 2, got 1"]
    );
}

#[test]
fn ref_offers_is_noted_not_failed() {
    let j = judge("ref_offers = 2");
    assert_eq!(j.problems, Vec::<String>::new());
    assert_eq!(j.ref_misses, ["handoff offers (REF): expected 2, got 1"]);
}

#[test]
fn the_first_probe_and_offer_are_checked_by_field() {
    assert_eq!(
        judge("probe = { nonce_len = 16 }").problems,
        ["probe.nonce_len: expected 16, got 32"]
    );
    assert_eq!(
        judge("offer = { explicit_handle = true }").problems,
        ["offer.explicit_handle: expected true, got false"]
    );
    assert_eq!(
        judge("offer = { nope = { absent = true } }").problems,
        Vec::<String>::new(),
        "an unknown offer field reads as absent"
    );
}

#[test]
fn the_environment_and_listener_of_the_first_start_are_checked() {
    assert_eq!(
        judge("version = \"1.0.0\"\nlistener = \"bound\"").problems,
        ["listener: expected \"bound\", got \"inherited\""]
    );
    assert_eq!(
        judge("version = \"1.0.0\"\nenv = { PATH = \"/usr/bin\" }").problems,
        ["env PATH: expected \"/usr/bin\", got \"/bin\""]
    );
    assert_eq!(
        judge("version = \"1.0.0\"\nenv_only = []").problems,
        ["variables outside the launch contract: [\"PATH\"]"]
    );
}

#[test]
fn a_check_on_a_record_that_is_not_there_fails_the_step() {
    let none: Vec<(u32, Vec<Record>)> = vec![(2, vec![started("2.0.0", &[])])];
    assert_eq!(
        failure("probe = { nonce_len = 32 }", &none),
        "the backend of svc recorded no identity probe"
    );
    assert_eq!(
        failure("offer = { with_fd = true }", &none),
        "the backend of svc recorded no handoff offer"
    );
    assert_eq!(
        failure("version = \"3.0.0\"\nlistener = \"bound\"", &none),
        "no backend of svc recorded its start"
    );
}

#[test]
fn http_reports_are_counted_and_the_first_checked_by_field() {
    let report = |reported: u32, outcome: &str| Record::HttpReport {
        serving: 4242,
        reported,
        outcome: outcome.into(),
    };
    let records = vec![(
        7,
        vec![
            started("1.0.0", &[]),
            report(0, "rejected"),
            report(4242, "accepted"),
        ],
    )];
    let judge = |text: &str| {
        judge_records(&spec(text), &records, &Captures::default())
            .unwrap_or_else(|f| panic!("{text}: {f:?}"))
            .problems
    };
    assert_eq!(
        judge(
            "http_reports = 2\nhttp_report = { serving = 4242, reported = 0, outcome = \"rejected\" }"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        judge("http_report = { outcome = \"accepted\" }"),
        ["http_report.outcome: expected \"accepted\", got \"rejected\""]
    );
    assert_eq!(
        judge("http_reports = 1"),
        ["BackendHttpReady reports: expected 1, got 2"]
    );
    assert_eq!(
        judge("http_report = { port = 1 }"),
        ["http_report.port: expected 1, got not set"]
    );
    assert_eq!(
        failure("http_report = { outcome = \"accepted\" }", &processes()),
        "the backend of svc recorded no BackendHttpReady report"
    );
}
