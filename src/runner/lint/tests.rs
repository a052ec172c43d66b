//! Each check catches a crafted bad suite; a suite using every feature
//! correctly is clean.

use std::collections::BTreeMap;

use super::*;

const CLAUSES: &str = r#"
[[clause]]
id = "FRM-4"
level = "MUST"
rule = "bad first byte"

[[clause]]
id = "FRM-11"
level = "MUST"
rule = "request_id 0"

[[clause]]
id = "HEL-20"
level = "SHOULD"
rule = "shutting down"

[[clause]]
id = "REG-9"
level = "REF"
rule = "internal"
observable = false
why = "inside the broker"
"#;

const SERVICES: &str = r#"
[[service]]
service = "echo-svc"

[[service]]
service = "fake-hang"
behavior = "hang"
files = ["v1", "v2"]
isolation = "explicit"
explicit_instance = "Bad Instance"
binary = "outside"
"#;

const FRM: &str = r#"
[[case]]
id = "frm.bad-first-byte"
clauses = ["FRM-4", "FRM-11"]
level = "MUST"
summary = "A first byte other than 0x01 is refused with VERSION_UNSUPPORTED and request_id 0"

[[case.step]]
send = { golden = "v1/wire_hello_minimal", patch = [{ at = 0, hex = "02" }] }

[[case.step]]
expect_reply = { result = "refused", fields = { "refused.code" = "ERROR_VERSION_UNSUPPORTED" }, ref_fields = { "refused.reason" = "unsupported framing version" }, frame = { request_id = 0 } }

[[case.step]]
expect_close = {}
"#;

const HEL: &str = r#"
[[case]]
id = "hel.every-feature"
clauses = ["HEL-20", "REG-9"]
level = "SHOULD"
summary = "Uses every step kind correctly"
needs = ["own-definitions", "alone"]

[[case.step]]
define = { service = "own-svc", files = ["v1"], isolation = "shared", binary = "relative", behavior = "echo" }

[[case.step]]
send = { hello = { service = "own-svc", version = "1.0.0", text = "client_capabilities: 1 client_keepalive_secs: 45", frame_text = "traceparent: \"00-ab\"", own_pid = true } }

[[case.step]]
expect_reply = { result = "negotiated", capture = { backend_pipe = "negotiated.backend_pipe", token = "negotiated.handle_passed_token" } }

[[case.step]]
connect = "second"

[[case.step]]
send = { on = "second", hello = { service = "echo-svc", version = "1.0.0" }, chunk = 1, chunk_pause_ms = 5 }

[[case.step]]
expect_reply = { on = "second", within_ms = 500, fields = { "negotiated.backend_pipe" = { same_as = "backend_pipe" }, "negotiated.warnings" = { len = 0 } } }

[[case.step]]
send = { admin = { verb = "ADMIN_VERB_STATUS", json = true } }

[[case.step]]
expect_reply = { json = { "/schema_version" = 1, "/uptime_ms" = { min = 0 } } }

[[case.step]]
send = { admin = { verb = 99 } }

[[case.step]]
send = { frame = { text = "envelope_version: 1 kind: FRAME_KIND_REQUEST", payload_type = "running_process.broker.v1.Hello", payload_text = "service_name: \"x\"" }, truncate = 3 }

[[case.step]]
send = { hex = "01 00000000" }

[[case.step]]
half_close = "second"

[[case.step]]
expect_one_of = [{ name = "reply", step = [{ expect_reply = { result = "refused", capture = { late = "refused.reason" } } }] }, { name = "close", step = [{ expect_close = { after_hello_timeout = true } }] }]

[[case.step]]
expect_silence = { for_ms = 100 }

[[case.step]]
expect_handoff_event = { token = "token" }

[[case.step]]
expect_backend_serves = { pipe = "backend_pipe" }

[[case.step]]
kill_backend = { pipe = "backend_pipe" }

[[case.step]]
expect_records = { service = "own-svc", started = { min = 1, max = 2 }, env = { RUNNING_PROCESS_X = { non_empty = true } }, offer = { with_fd = true } }

[[case.step]]
parallel = { count = 3, hello = { service = "echo-svc", version = "1.0.0" }, also_accept = ["ERROR_RATE_LIMITED"], same_backend = true }

[[case.step]]
rebuild_backend = "fake-hang"

[[case.step]]
chmod_definitions = "0750"

[[case.step]]
send_as_uid = { uid = 4242, hello = { service = "echo-svc", version = "1.0.0" } }

[[case.step]]
expect_socket_modes = { dir = "700", socket = "600" }

[[case.step]]
send = { hello = { service = "unknown-svc", version = "1.0.0" } }

[[case.step]]
send = { hello = { service = "nobody", version = "1.0.0" } }

[[case.step]]
send = { hello = { service = "Bad_Name", version = "1.0.0" } }

[[case.step]]
pause_ms = 10
"#;

const RETIRED: &str = r#"
[[retired]]
id = "hel.withdrawn"
reason = "duplicated hel.every-feature"
"#;

fn base() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("clauses.toml".to_owned(), CLAUSES.to_owned()),
        ("services.toml".to_owned(), SERVICES.to_owned()),
        ("retired.toml".to_owned(), RETIRED.to_owned()),
        ("cases/frm.toml".to_owned(), FRM.to_owned()),
        ("cases/hel.toml".to_owned(), HEL.to_owned()),
    ])
}

fn lint(files: BTreeMap<String, String>) -> Vec<String> {
    let files = files
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    let suite = Suite::from_files("test".into(), files).expect("suite parses");
    lint_suite(&suite, &Corpus::embedded())
        .iter()
        // The fixtures keep one-line inline tables; layout.rs tests the width rule.
        .filter(|p| !p.item.starts_with("line "))
        .map(ToString::to_string)
        .collect()
}

/// The load error of the base suite with `from` replaced by `to` in `file`.
fn load_error(file: &str, from: &str, to: &str) -> String {
    let mut files = base();
    let text = files.get(file).cloned().unwrap_or_default();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} must occur once in {file}"
    );
    files.insert(file.to_owned(), text.replace(from, to));
    let files = files
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    match Suite::from_files("test".into(), files) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{to:?} in {file} loads"),
    }
}

/// Asserts `error` locates the problem (`case …: step …: field: `) and says `why`.
fn assert_load_error(error: &str, place: &str, why: &str) {
    assert!(error.contains(place) && error.contains(why), "{error}");
}

/// Lints the base suite with `edit` applied to one file's text.
fn lint_edited(file: &str, edit: impl FnOnce(&str) -> String) -> Vec<String> {
    let mut files = base();
    let text = files.get(file).cloned().unwrap_or_default();
    files.insert(file.to_owned(), edit(&text));
    lint(files)
}

/// Replaces the one occurrence of `from` in `file`.
fn lint_replaced(file: &str, from: &str, to: &str) -> Vec<String> {
    lint_edited(file, |text| {
        assert_eq!(
            text.matches(from).count(),
            1,
            "{from:?} must occur once in {file}"
        );
        text.replace(from, to)
    })
}

/// Appends a `hel` case with these steps (and a valid header).
fn lint_hel_case(steps: &str) -> Vec<String> {
    lint_edited("cases/hel.toml", |text| {
        format!(
            "{text}\n[[case]]\nid = \"hel.extra\"\nclauses = [\"HEL-20\"]\nlevel = \"SHOULD\"\nsummary = \"Extra\"\n{steps}"
        )
    })
}

#[track_caller]
fn assert_only(problems: &[String], expected: &str) {
    assert!(
        problems.len() == 1 && problems[0] == expected,
        "expected only {expected:?}, got {problems:#?}"
    );
}

#[test]
fn a_suite_using_every_feature_correctly_is_clean() {
    assert_eq!(lint(base()), Vec::<String>::new());
}

#[test]
fn ids_must_have_the_area_slug_form() {
    for bad in ["Hel.upper", "hel", "hel.", "hel.a_b", "hel..x", ".x"] {
        assert!(!is_case_id(bad), "{bad}");
    }
    for good in ["hel.x", "hel.a-b.c-2", "v2.x"] {
        assert!(is_case_id(good), "{good}");
    }
    let problems = lint_replaced(
        "cases/frm.toml",
        "id = \"frm.bad-first-byte\"",
        "id = \"frm.Bad_Byte\"",
    );
    assert_only(
        &problems,
        "cases/frm.toml: frm.Bad_Byte: id must match ^[a-z0-9]+(\\.[a-z0-9-]+)+$",
    );
}

#[test]
fn ids_must_be_unique_across_files() {
    let mut files = base();
    files.insert("cases/zzz.toml".into(), FRM.to_owned());
    let problems = lint(files);
    assert!(problems.contains(&"cases/zzz.toml: frm.bad-first-byte: id is not unique: cases/frm.toml already defines it".to_owned()), "{problems:#?}");
}

#[test]
fn the_area_must_match_the_file() {
    let problems = lint_replaced(
        "cases/frm.toml",
        "id = \"frm.bad-first-byte\"",
        "id = \"env.bad-first-byte\"",
    );
    assert_only(
        &problems,
        "cases/frm.toml: env.bad-first-byte: the id's area \"env\" differs from its file: it belongs in cases/env.toml",
    );
}

#[test]
fn a_live_id_must_not_be_retired() {
    let problems = lint_replaced("retired.toml", "hel.withdrawn", "frm.bad-first-byte");
    assert_only(
        &problems,
        "cases/frm.toml: frm.bad-first-byte: the id is retired (duplicated hel.every-feature); ids are never reused: pick a new one",
    );
}

#[test]
fn cited_clauses_must_exist() {
    let problems = lint_replaced(
        "cases/frm.toml",
        "[\"FRM-4\", \"FRM-11\"]",
        "[\"FRM-4\", \"FRM-99\"]",
    );
    assert_only(
        &problems,
        "cases/frm.toml: frm.bad-first-byte: cites FRM-99, which is not in clauses.toml",
    );
}

#[test]
fn a_must_case_must_cite_a_must_clause() {
    let problems = lint_replaced("cases/hel.toml", "level = \"SHOULD\"", "level = \"MUST\"");
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: level MUST is stronger than every clause it cites (strongest: SHOULD); a MUST case must cite a MUST clause",
    );
}

#[test]
fn a_should_case_must_cite_a_should_or_must_clause_and_ref_cites_anything() {
    let problems = lint_replaced(
        "cases/hel.toml",
        "clauses = [\"HEL-20\", \"REG-9\"]",
        "clauses = [\"REG-9\"]",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: level SHOULD is stronger than every clause it cites (strongest: REF); a SHOULD case must cite a SHOULD or MUST clause",
    );
    let mut files = base();
    let hel = files["cases/hel.toml"]
        .replace("clauses = [\"HEL-20\", \"REG-9\"]", "clauses = [\"REG-9\"]");
    files.insert(
        "cases/hel.toml".into(),
        hel.replace("level = \"SHOULD\"", "level = \"REF\""),
    );
    assert_eq!(lint(files), Vec::<String>::new());
    let weaker = lint_replaced("cases/frm.toml", "level = \"MUST\"", "level = \"SHOULD\"");
    assert_eq!(weaker, Vec::<String>::new(), "a weaker level is fine");
}

#[test]
fn summaries_are_one_short_line_without_a_period() {
    let long = "x".repeat(141);
    let cases = [
        (
            format!("summary = \"{long}\""),
            "summary is 141 characters, over 140",
        ),
        (
            "summary = \"Two\\nlines\"".to_owned(),
            "summary must be one line",
        ),
        (
            "summary = \"Ends with a period.\"".to_owned(),
            "summary ends with a period",
        ),
        ("summary = \" \"".to_owned(), "summary is empty"),
    ];
    for (replacement, expected) in cases {
        let problems = lint_replaced(
            "cases/hel.toml",
            "summary = \"Uses every step kind correctly\"",
            &replacement,
        );
        assert_only(
            &problems,
            &format!("cases/hel.toml: hel.every-feature: {expected}"),
        );
    }
    let exactly = "y".repeat(140);
    assert_eq!(
        lint_replaced(
            "cases/hel.toml",
            "summary = \"Uses every step kind correctly\"",
            &format!("summary = \"{exactly}\"")
        ),
        Vec::<String>::new()
    );
}

#[test]
fn a_case_needs_a_step() {
    let problems = lint_hel_case("");
    assert_only(
        &problems,
        "cases/hel.toml: hel.extra: a case needs at least one step",
    );
}

#[test]
fn a_send_needs_exactly_one_source() {
    let error = load_error(
        "cases/frm.toml",
        "send = { golden = \"v1/wire_hello_minimal\",",
        "send = { hex = \"01\", golden = \"v1/wire_hello_minimal\",",
    );
    assert_load_error(
        &error,
        "cases/frm.toml: line 7: case frm.bad-first-byte: step 1: send: ",
        "send needs exactly one source of golden, hex, hello, admin, frame (has golden, hex)",
    );
    let error = load_error(
        "cases/hel.toml",
        "send = { hex = \"01 00000000\" }",
        "send = { truncate = 1 }",
    );
    assert_load_error(&error, "step 11: send: ", "(has none)");
}

#[test]
fn hex_must_parse_and_goldens_must_exist() {
    let error = load_error(
        "cases/hel.toml",
        "send = { hex = \"01 00000000\" }",
        "send = { hex = \"01 0\" }",
    );
    assert_load_error(
        &error,
        "step 11: send",
        "does not parse: odd number of hex digits (3)",
    );
    let error = load_error("cases/frm.toml", "hex = \"02\"", "hex = \"xy\"");
    assert_load_error(&error, "step 1: send", "\"xy\" does not parse");
    let error = load_error("cases/frm.toml", "hex = \"02\"", "hex = \"\"");
    assert_load_error(&error, "step 1: send", "patch 1: hex is empty");
    let problems = lint_replaced(
        "cases/frm.toml",
        "v1/wire_hello_minimal",
        "v1/no_such_golden",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].starts_with("cases/frm.toml: frm.bad-first-byte: step 1: golden: no golden named \"v1/no_such_golden\""), "{problems:#?}");
}

#[test]
fn chunking_needs_a_chunk_size_above_zero() {
    let error = load_error(
        "cases/hel.toml",
        "chunk = 1, chunk_pause_ms = 5",
        "chunk = 0",
    );
    assert_load_error(&error, "step 5: send", "nonzero");
    let error = load_error(
        "cases/hel.toml",
        "chunk = 1, chunk_pause_ms = 5",
        "chunk_pause_ms = 5",
    );
    assert_load_error(
        &error,
        "step 5: send",
        "chunk_pause_ms without chunk does nothing",
    );
}

#[test]
fn text_format_snippets_must_parse_against_their_types() {
    let problems = lint_replaced(
        "cases/hel.toml",
        "client_keepalive_secs: 45",
        "client_keepalive: 45",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].starts_with("cases/hel.toml: hel.every-feature: step 2: send.hello.text does not parse as running_process.broker.v1.Hello"), "{problems:#?}");
    let problems = lint_replaced(
        "cases/hel.toml",
        "traceparent: \\\"00-ab\\\"",
        "traceparent: 5",
    );
    assert!(
        problems.len() == 1
            && problems[0].contains(
                "step 2: send.hello.frame_text does not parse as running_process.broker.v1.Frame"
            ),
        "{problems:#?}"
    );
    let problems = lint_replaced(
        "cases/hel.toml",
        "kind: FRAME_KIND_REQUEST",
        "kind: NOT_A_KIND",
    );
    assert!(
        problems.len() == 1
            && problems[0].contains(
                "step 10: send.frame.text does not parse as running_process.broker.v1.Frame"
            ),
        "{problems:#?}"
    );
    let problems = lint_replaced(
        "cases/hel.toml",
        "payload_text = \"service_name: \\\"x\\\"\"",
        "payload_text = \"backend_pipe: \\\"x\\\"\"",
    );
    assert!(
        problems.len() == 1
            && problems[0].contains(
                "step 10: send.frame.payload_text does not parse as running_process.broker.v1.Hello"
            ),
        "{problems:#?}"
    );
    let problems = lint_replaced(
        "cases/hel.toml",
        "payload_type = \"running_process.broker.v1.Hello\"",
        "payload_type = \"Hello\"",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: step 10: send.frame.payload_type \"Hello\" is no message of the schemas (use the full name)",
    );
}

#[test]
fn admin_verbs_must_be_known_names_or_numbers() {
    let error = load_error("cases/hel.toml", "ADMIN_VERB_STATUS", "ADMIN_VERB_STATUZ");
    assert_load_error(
        &error,
        "case hel.every-feature: step 7: send",
        "\"ADMIN_VERB_STATUZ\" is no AdminVerb value (use a number for unknown verbs)",
    );
    let error = load_error("cases/hel.toml", "verb = 99", "verb = 4294967296");
    assert_load_error(
        &error,
        "step 9: send",
        "verb 4294967296 does not fit an enum (i32)",
    );
}

#[test]
fn matchers_must_be_one_known_key() {
    let error = load_error("cases/hel.toml", "{ len = 0 }", "{ len = 0, empty = true }");
    assert_load_error(
        &error,
        "case hel.every-feature: step 6: expect_reply.fields.negotiated.warnings: ",
        "a matcher table holds exactly one matcher, not empty, len",
    );
    let error = load_error(
        "cases/frm.toml",
        "\"refused.code\" = \"ERROR_VERSION_UNSUPPORTED\"",
        "\"refused.code\" = { equals = \"x\" }",
    );
    assert_load_error(
        &error,
        "case frm.bad-first-byte: step 2: expect_reply.fields.refused.code: ",
        "unknown matcher \"equals\"",
    );
    let error = load_error("cases/hel.toml", "{ non_empty = true }", "{ contains = 3 }");
    assert_load_error(
        &error,
        "step 18: expect_records.env.RUNNING_PROCESS_X.contains: ",
        "invalid type: integer `3`, expected a string",
    );
}

#[test]
fn ref_only_checks_have_their_own_key_not_a_matcher() {
    let error = load_error(
        "cases/frm.toml",
        "ref_fields = { \"refused.reason\" = \"unsupported framing version\" }",
        "fields = { \"refused.reason\" = { ref = \"unsupported framing version\" } }",
    );
    assert!(error.contains("duplicate key"), "{error}");
    let error = load_error(
        "cases/frm.toml",
        "\"refused.code\" = \"ERROR_VERSION_UNSUPPORTED\"",
        "\"refused.code\" = { ref = \"ERROR_VERSION_UNSUPPORTED\" }",
    );
    assert_load_error(
        &error,
        "step 2: expect_reply.fields.refused.code: ",
        "`ref` is no matcher: REF-only checks go under their own key",
    );
}

#[test]
fn same_as_and_differs_from_need_an_earlier_capture() {
    // Captured later, not earlier.
    let problems = lint_replaced(
        "cases/hel.toml",
        "{ same_as = \"backend_pipe\" }",
        "{ differs_from = \"late\" }",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: step 6: expect_reply.fields.negotiated.backend_pipe: differs_from names \"late\", which no earlier step captures",
    );
    // Captured in only one alternative: not available after them.
    let problems = lint_hel_case(
        "[[case.step]]\nexpect_one_of = [{ name = \"a\", step = [{ expect_reply = { capture = { x = \"refused.reason\" } } }] }, { name = \"b\", step = [{ expect_close = {} }] }]\n[[case.step]]\nexpect_reply = { fields = { \"refused.reason\" = { same_as = \"x\" } } }\n",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.extra: step 2: expect_reply.fields.refused.reason: same_as names \"x\", which no earlier step captures",
    );
    // Named captures for handoff events, backends and kills.
    let problems = lint_replaced(
        "cases/hel.toml",
        "kill_backend = { pipe = \"backend_pipe\" }",
        "kill_backend = { pipe = \"pipe2\" }",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: step 17: pipe names \"pipe2\", which no earlier step captures",
    );
}

#[test]
fn expect_reply_result_is_negotiated_or_refused() {
    let error = load_error(
        "cases/frm.toml",
        "result = \"refused\"",
        "result = \"rejected\"",
    );
    assert_load_error(
        &error,
        "step 2: expect_reply.result: ",
        "unknown variant `rejected`, expected `negotiated` or `refused`",
    );
}

#[test]
fn frame_checks_name_frame_fields() {
    let problems = lint_replaced(
        "cases/frm.toml",
        "frame = { request_id = 0 }",
        "frame = { requestid = 0 }",
    );
    assert_only(
        &problems,
        "cases/frm.toml: frm.bad-first-byte: step 2: expect_reply.frame: Frame has no field \"requestid\"",
    );
}

#[test]
fn hello_services_must_be_provisioned_defined_or_meant_unknown() {
    let problems = lint_hel_case(
        "[[case.step]]\nsend = { hello = { service = \"ghost\", version = \"1.0.0\" } }\n",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.extra: step 1: send.hello: service \"ghost\" is neither in services.toml nor defined by this case (a name meant to be unknown starts with `unknown-` or `nobody`, or its reply expects ERROR_SERVICE_UNKNOWN)",
    );
    // A reply expecting SERVICE_UNKNOWN shows the name is meant to be unknown.
    let problems = lint_hel_case(
        "[[case.step]]\nsend = { hello = { service = \"ghost\", version = \"1.0.0\" } }\n[[case.step]]\nexpect_reply = { result = \"refused\", fields = { \"refused.code\" = \"ERROR_SERVICE_UNKNOWN\" } }\n",
    );
    assert_eq!(problems, Vec::<String>::new());
    // Any other expectation on that connection does not.
    let problems = lint_hel_case(
        "[[case.step]]\nsend = { on = \"a\", hello = { service = \"ghost\", version = \"1.0.0\" } }\n[[case.step]]\nexpect_reply = { on = \"a\", result = \"negotiated\" }\n",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.extra: step 1: send.hello: service \"ghost\" is neither in services.toml nor defined by this case (a name meant to be unknown starts with `unknown-` or `nobody`, or its reply expects ERROR_SERVICE_UNKNOWN)",
    );
    // A service another case defines does not count.
    let problems = lint_hel_case(
        "[[case.step]]\nparallel = { count = 2, hello = { service = \"own-svc\", version = \"1.0.0\" } }\n",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.extra: step 1: parallel.hello: service \"own-svc\" is neither in services.toml nor defined by this case (a name meant to be unknown starts with `unknown-` or `nobody`, or its reply expects ERROR_SERVICE_UNKNOWN)",
    );
}

#[test]
fn connections_must_be_opened_before_use() {
    let problems = lint_hel_case(
        "[[case.step]]\nexpect_close = { on = \"other\" }\n[[case.step]]\nsend = { on = \"other\", hex = \"01\" }\n[[case.step]]\nconnect = \"other\"\n[[case.step]]\nsend = { hex = \"01\" }\n[[case.step]]\nconnect = \"main\"\n",
    );
    assert_eq!(
        problems,
        [
            "cases/hel.toml: hel.extra: step 1: connection \"other\" is not opened by an earlier connect or send step",
            "cases/hel.toml: hel.extra: step 3: connection \"other\" is already open",
            "cases/hel.toml: hel.extra: step 5: connection \"main\" is already open",
        ]
    );
}

#[test]
fn alternatives_are_checked_step_by_step() {
    let problems = lint_hel_case(
        "[[case.step]]\nexpect_one_of = [{ name = \"a\", step = [{ expect_reply = { frame = { requestid = 1 } } }] }]\n",
    );
    assert_eq!(
        problems,
        [
            "cases/hel.toml: hel.extra: step 1: expect_one_of needs at least two alternatives",
            "cases/hel.toml: hel.extra: step 1 alternative \"a\" step 1: expect_reply.frame: Frame has no field \"requestid\"",
        ]
    );
}

#[test]
fn service_specs_must_use_known_values() {
    let problems = lint_replaced(
        "services.toml",
        "binary = \"outside\"",
        "binary = \"elsewhere\"",
    );
    assert_only(
        &problems,
        "services.toml: fake-hang: binary \"elsewhere\" is not one of installed, relative, empty, relative-dir, missing, outside",
    );
    let problems = lint_replaced(
        "services.toml",
        "files = [\"v1\", \"v2\"]",
        "files = [\"v1\", \"v3\"]",
    );
    assert_only(
        &problems,
        "services.toml: fake-hang: files holds \"v3\"; only v1 and v2 exist",
    );
    let problems = lint_replaced(
        "services.toml",
        "isolation = \"explicit\"",
        "isolation = \"global\"",
    );
    assert_only(
        &problems,
        "services.toml: fake-hang: isolation \"global\" is not one of private, shared, explicit",
    );
    let problems = lint_replaced(
        "services.toml",
        "behavior = \"hang\"",
        "behavior = \"dance\"",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("services.toml: fake-hang: unknown fake-backend behavior \"dance\""),
        "{problems:#?}"
    );
    let problems = lint_replaced(
        "services.toml",
        "service = \"fake-hang\"",
        "service = \"echo-svc\"",
    );
    assert!(
        problems.contains(&"services.toml: echo-svc: service's v1 file defined twice".to_owned()),
        "{problems:#?}"
    );
    // The same checks apply to define steps.
    let problems = lint_replaced(
        "cases/hel.toml",
        "isolation = \"shared\"",
        "isolation = \"open\"",
    );
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: step 1: define: isolation \"open\" is not one of private, shared, explicit",
    );
}

#[test]
fn the_clause_catalogue_is_checked() {
    let problems = lint_replaced("clauses.toml", "why = \"inside the broker\"\n", "");
    assert_only(
        &problems,
        "clauses.toml: REG-9: an unobservable clause must say why (and where else it is proved)",
    );
    let problems = lint_replaced("clauses.toml", "id = \"HEL-20\"", "id = \"FRM-4\"");
    assert!(
        problems.contains(&"clauses.toml: FRM-4: clause listed twice".to_owned()),
        "{problems:#?}"
    );
}

#[test]
fn tombstones_and_misplaced_entries_are_checked() {
    let problems = lint_replaced(
        "retired.toml",
        "reason = \"duplicated hel.every-feature\"",
        "reason = \"\"",
    );
    assert_only(
        &problems,
        "retired.toml: hel.withdrawn: a tombstone needs a reason",
    );
    let problems = lint_edited("cases/frm.toml", |t| {
        format!("{t}\n[[retired]]\nid = \"frm.old\"\nreason = \"x\"\n")
    });
    assert_only(
        &problems,
        "cases/frm.toml: -: [[retired]] entries here are ignored: tombstones live in retired.toml",
    );
    let mut files = base();
    files.insert("cases/notes.md".into(), "hi".into());
    assert_only(
        &lint(files),
        "cases/notes.md: -: not a .toml file: the suite ignores it",
    );
}

#[test]
fn modes_counts_and_codes_are_checked() {
    let error = load_error(
        "cases/hel.toml",
        "chmod_definitions = \"0750\"",
        "chmod_definitions = \"rwx\"",
    );
    assert_load_error(
        &error,
        "step 21: chmod_definitions: ",
        "\"rwx\" is not an octal mode",
    );
    let problems = lint_replaced("cases/hel.toml", "count = 3", "count = 1");
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: step 19: parallel.count must be at least 2",
    );
    let problems = lint_replaced("cases/hel.toml", "ERROR_RATE_LIMITED", "RATE_LIMITED");
    assert_only(
        &problems,
        "cases/hel.toml: hel.every-feature: step 19: also_accept: \"RATE_LIMITED\" is no ErrorCode value",
    );
}

const V2_CLAUSES: &str = r#"
[[clause]]
id = "V2L-1"
level = "MUST"
rule = "singleton"
binds = ["front-door"]

[[clause]]
id = "V2W-14"
level = "REF"
rule = "discovery file"
binds = ["launching"]
"#;

const V2L: &str = r#"
[[case]]
id = "v2l.second-start"
clauses = ["V2L-1"]
binds = "front-door"
level = "MUST"
summary = "A second start exits 75"
needs = ["fresh-broker"]
broker_args = ["--http-port", "dynamic"]

[[case.step]]
start_front_door = { expect_exit = 75 }

[[case.step]]
tcp_send = { on = "raw", text = "GET / HTTP/1.0\r\n\r\n" }

[[case.step]]
expect_tcp_reply = { on = "raw", contains = "HTTP/1.1 200" }
"#;

fn lint_v2_edited(from: &str, to: &str) -> Vec<String> {
    let mut files = base();
    files.insert("clauses-v2.toml".to_owned(), V2_CLAUSES.to_owned());
    assert_eq!(V2L.matches(from).count(), 1, "{from:?} must occur once");
    files.insert("cases/v2l.toml".to_owned(), V2L.replace(from, to));
    lint(files)
}

#[test]
fn a_v2_case_is_clean_when_it_binds_its_clauses_kind() {
    assert_eq!(lint_v2_edited("level", "level"), Vec::<String>::new());
}

#[test]
fn a_case_citing_a_v2_clause_must_bind_a_kind_the_clause_binds() {
    // No kind at all, and the wrong kind, are the same problem.
    for (from, to) in [
        ("binds = \"front-door\"\n", ""),
        ("binds = \"front-door\"", "binds = \"launching\""),
    ] {
        assert_only(
            &lint_v2_edited(from, to),
            "cases/v2l.toml: v2l.second-start: cites V2L-1, which binds front-door: say so with binds = \"front-door\"",
        );
    }
}

#[test]
fn broker_args_need_a_fresh_broker_and_tcp_replies_an_opened_connection() {
    let problems = lint_v2_edited("needs = [\"fresh-broker\"]\n", "");
    assert_only(
        &problems,
        "cases/v2l.toml: v2l.second-start: broker_args and broker_env apply to a fresh broker: add needs = [\"fresh-broker\"]",
    );
    let problems = lint_v2_edited("on = \"raw\", contains", "on = \"other\", contains");
    assert_only(
        &problems,
        "cases/v2l.toml: v2l.second-start: step 3: TCP connection \"other\" is not opened by an earlier tcp_send",
    );
}
