//! `service_definition` and `event_log`: arbitrary file bytes through the
//! pure halves of the definition loader (SVC-3, HEL-14) and of event-log
//! verification (EVT-1, EVT-3). Nothing touches the disk.

use std::path::Path;

use prost::Message as _;

use super::{Pieces, rng_for};
use crate::definitions::{
    DefinitionContent, Generation, Isolation, check_definition_file, definition_problems,
    parse_service_def_file_name, v1_to_v2,
};
use crate::events::{LogReader, LogVerdict, ReadFailure, record_hash, verify_log_source};

/// The definition files the bytes are read as: golden
/// `service_definition`'s service, v1 and v2 (SVC-1, V2-2).
const DEFINITION_PATHS: [&str; 2] = ["/defs/zccache.servicedef", "/defs/zccache.servicedef.v2"];

/// File bytes through the loader's pure entry, as a v1 and as a v2 file.
/// Invariants: never panics; a refusal names the file (HEL-14); an
/// accepted definition has no SVC-3 problem, a valid isolation, and
/// re-encoded and reloaded is accepted with the same content.
pub fn service_definition(data: &[u8]) {
    for path in DEFINITION_PATHS.map(Path::new) {
        match check_definition_file(path, data) {
            Ok(content) => assert_accepted_again(path, &content),
            Err(e) => assert!(
                e.to_string().starts_with(&format!("{}: ", path.display())),
                "a refusal that does not name its file: {e}"
            ),
        }
    }
}

fn assert_accepted_again(path: &Path, content: &DefinitionContent) {
    let Some((service, generation)) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_service_def_file_name)
    else {
        panic!(
            "{}: accepted under a name that is no definition's",
            path.display()
        );
    };
    let problems = definition_problems(&content.definition, service);
    assert!(problems.is_empty(), "accepted with problems: {problems:?}");
    if let Err(e) = Isolation::of(&content.definition) {
        panic!("accepted with an invalid isolation: {e}");
    }
    let bytes = match generation {
        Generation::V1 => content.definition.encode_to_vec(),
        Generation::V2 => {
            v1_to_v2(content.definition.clone(), content.http_server.clone()).encode_to_vec()
        }
    };
    assert_eq!(
        check_definition_file(path, &bytes).as_ref(),
        Ok(content),
        "re-encoded and reloaded"
    );
}

/// Log file bytes through verification. Invariants: never panics and never
/// fails to read from memory; the verdict is the same when the bytes come
/// in arbitrary pieces; the records read back tile the file up to the
/// break, each hashed over its own message bytes, the last one the head;
/// the part before a break verifies intact with exactly the records before
/// it; an intact log rebuilt from its records' bytes verifies identically.
pub fn event_log(data: &[u8]) {
    let verdict = verdict_of(data);
    let mut rng = rng_for(data);
    assert_eq!(
        verify_log_source(Pieces::new(data, &mut rng))
            .unwrap_or_else(|e| panic!("a read in pieces failed: {e}")),
        verdict,
        "the verdict depends on how the bytes arrive"
    );
    let mut rebuilt = Vec::with_capacity(data.len());
    let mut head = None;
    let mut records = 0;
    for item in LogReader::new(data) {
        let record = match item {
            Ok(record) => record,
            Err(ReadFailure::Broken(b)) => {
                assert_eq!(
                    b.offset,
                    rebuilt.len() as u64,
                    "the break is where records end"
                );
                break;
            }
            Err(ReadFailure::Io(e)) => panic!("an in-memory read failed: {e}"),
        };
        assert_eq!(
            (record.index, record.offset),
            (records, rebuilt.len() as u64)
        );
        let bytes = &data[rebuilt.len()..rebuilt.len() + record.len];
        let mut prefix = bytes;
        let message_len = prost::encoding::decode_varint(&mut prefix)
            .unwrap_or_else(|e| panic!("a record read back with a bad prefix: {e}"));
        assert_eq!(
            prefix.len() as u64,
            message_len,
            "EVT-1: the prefix gives the length"
        );
        assert_eq!(
            record.hash,
            record_hash(prefix),
            "EVT-3: the hash covers the message bytes"
        );
        rebuilt.extend_from_slice(bytes);
        head = Some(record.hash);
        records += 1;
    }
    let intact_part = LogVerdict::Intact { records, head };
    match &verdict {
        LogVerdict::Intact { .. } => {
            assert_eq!(verdict, intact_part, "the reader and the verdict disagree");
            assert_eq!(rebuilt, data, "intact records tile the whole file");
        }
        LogVerdict::Broken { record, offset, .. } => {
            assert_eq!((*record, *offset), (records, rebuilt.len() as u64));
        }
    }
    assert_eq!(
        verdict_of(&rebuilt),
        intact_part,
        "the part before a break is intact"
    );
}

fn verdict_of(bytes: &[u8]) -> LogVerdict {
    verify_log_source(bytes).unwrap_or_else(|e| panic!("an in-memory read failed: {e}"))
}
