//! Verification of a corpus: the manifest, the pairs, byte-exact round
//! trips through the crate's encoders and decoders, an independent encoder
//! cross-check, and the spec's own test vectors.

use std::collections::BTreeSet;
use std::fmt;

use super::codec::{check_decodes_to_sample, encode_sample, encode_sample_independently};
use super::manifest::sha256;
use super::spec_vectors::SPEC_VECTOR_GOLDENS;
use super::{BIN_EXT, COMPANION_EXT, Companion, Corpus, UNFROZEN_FILES};
use crate::inspect::hex::to_hex;
use crate::inspect::hex_diff;

/// One problem, tied to the file it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file, as displayed to the user.
    pub path: String,
    /// What is wrong; may span several lines (a hex diff).
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = self.problem.lines();
        write!(f, "{}: {}", self.path, lines.next().unwrap_or(""))?;
        for line in lines {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Golden pairs whose round trips were checked.
    pub pairs_checked: usize,
    /// Files whose checksums were checked.
    pub files_checked: usize,
    /// Everything wrong; empty when the corpus is intact.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Runs every check over `corpus` and reports all problems found.
pub fn verify(corpus: &Corpus) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut find = |rel: &str, problem: String| {
        report.findings.push(Finding {
            path: corpus.display_path(rel),
            problem,
        });
    };
    let manifest = match corpus.manifest() {
        Ok(m) => m,
        Err(e) => {
            find("MANIFEST", e.to_string());
            return report;
        }
    };

    // Every listed file exists with its recorded checksum.
    let mut changed = BTreeSet::new();
    for entry in &manifest.entries {
        let Some(bytes) = corpus.files.get(&entry.path) else {
            find(
                &entry.path,
                format!(
                    "listed on MANIFEST line {} but missing: a landed golden is never deleted",
                    entry.line
                ),
            );
            continue;
        };
        let actual = sha256(bytes);
        if actual != entry.sha256 {
            changed.insert(entry.path.clone());
            let mut problem = format!(
                "content changed: MANIFEST line {} records sha256 {}, the file has {}; a landed golden is never edited",
                entry.line,
                to_hex(&entry.sha256),
                to_hex(&actual)
            );
            if let Some(diff) = diff_against_sample(corpus, &entry.path, bytes) {
                problem.push_str("\nhex diff, sample encoding (expected) vs file (actual):\n");
                problem.push_str(&diff);
            }
            find(&entry.path, problem);
        }
    }
    let listed: BTreeSet<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    let unlisted: Vec<&String> = corpus
        .files
        .keys()
        .filter(|p| !listed.contains(p.as_str()) && !UNFROZEN_FILES.contains(&p.as_str()))
        .collect();
    for path in unlisted {
        find(
            path,
            "not listed in MANIFEST: freeze it with `broker-conformance golden add`".into(),
        );
    }
    report.files_checked = manifest.entries.len();

    // Pairs: every .bin has a companion and vice versa; round trips hold.
    for rel in corpus.files.keys() {
        if let Some(name) = rel.strip_suffix(&format!(".{COMPANION_EXT}"))
            && !corpus.files.contains_key(&format!("{name}.{BIN_EXT}"))
        {
            find(rel, format!("companion without {name}.{BIN_EXT}"));
        }
    }
    for name in corpus.names() {
        report.pairs_checked += 1;
        let bin_rel = format!("{name}.{BIN_EXT}");
        if changed.contains(&bin_rel) {
            // Already reported above, with the hex diff against the sample.
            continue;
        }
        match corpus.golden(&name) {
            Ok(golden) => {
                for problem in round_trip_problems(&golden.companion, &golden.bytes) {
                    find(&bin_rel, problem);
                }
            }
            Err(e) => find(&bin_rel, e.to_string()),
        }
    }

    // The spec's test vectors, byte for byte.
    for vector in SPEC_VECTOR_GOLDENS {
        let rel = format!("{}.{BIN_EXT}", vector.golden);
        let Some(bytes) = corpus.files.get(&rel) else {
            find(&rel, "missing: it holds a spec §2 test vector".into());
            continue;
        };
        let expected = vector.expected_bytes();
        if *bytes != expected {
            find(
                &rel,
                format!(
                    "differs from the spec §2 test vector:\n{}",
                    hex_diff(&expected, bytes)
                ),
            );
        }
    }
    report
}

/// The ways a golden's bytes and its sample disagree.
pub(crate) fn round_trip_problems(companion: &Companion, bytes: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    match encode_sample(companion) {
        Ok(encoded) if encoded != bytes => problems.push(format!(
            "encoding the companion's sample does not reproduce the file:\n{}",
            hex_diff(&encoded, bytes)
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!("the companion's sample does not encode: {e}")),
    }
    if let Err(e) = check_decodes_to_sample(bytes, companion) {
        problems.push(format!(
            "decoding the file does not give the sample back: {e}"
        ));
    }
    let independent = encode_sample_independently(companion);
    if independent != bytes {
        problems.push(format!(
            "the independent (prost-reflect) encoder disagrees with the file:\n{}",
            hex_diff(&independent, bytes)
        ));
    }
    problems
}

/// A hex diff of a changed `.bin` against its companion's encoding.
fn diff_against_sample(corpus: &Corpus, rel: &str, bytes: &[u8]) -> Option<String> {
    let name = rel.strip_suffix(&format!(".{BIN_EXT}"))?;
    let golden = corpus.golden(name).ok()?;
    let expected = encode_sample(&golden.companion).ok()?;
    Some(hex_diff(&expected, bytes))
}
