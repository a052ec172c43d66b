//! The fuzz targets on stable, inside `cargo test`: every
//! file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through
//! its target, then a bounded, deterministic sample of mutations of those
//! files. The bodies and their invariants are `broker_conformance::fuzzing`,
//! the same functions `cargo +nightly fuzz run` drives. The ignored test
//! `reseed` rewrites the seed files (see `fuzz/README.md`).

#[path = "fuzz_corpus/seeds.rs"]
mod seeds;
mod support;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use broker_conformance::fuzzing::{TARGETS, Target};
use broker_conformance::inspect::to_hex;
use support::Rng;

/// Mutated inputs per target: a few thousand, a second or two in a debug build.
const MUTATIONS_PER_TARGET: usize = 5_000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when it is missing.
fn inputs(kind: &str, target: &Target) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target.name);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// Runs the target on `data`; `Err` holds the panic message.
fn outcome(target: &Target, data: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| (target.run)(data))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "non-text panic".to_owned())
    })
}

#[test]
fn every_target_has_a_seed_corpus_and_a_cargo_fuzz_binary() {
    for target in TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "fuzz/corpus/{} is empty",
            target.name
        );
        let bin = fuzz_dir()
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        let source = fs::read_to_string(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(
            source.contains(&format!("broker_conformance::fuzzing::{}(", target.name)),
            "{} does not call its target",
            bin.display()
        );
    }
}

#[test]
fn every_corpus_and_regression_file_replays() {
    let mut failures = Vec::new();
    for target in TARGETS {
        for kind in ["corpus", "regressions"] {
            for (path, data) in inputs(kind, target) {
                if let Err(message) = outcome(target, &data) {
                    failures.push(format!("{}: {message}", path.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One mutation of `seed`, as a fuzzer's simplest moves: bit flips, an
/// interesting byte, truncation, insertion, a duplicated or removed range.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(3) {
        let len = data.len() as u64;
        let at = |rng: &mut Rng| rng.below(len.max(1)) as usize;
        match rng.below(6) {
            0 if len > 0 => {
                let i = at(rng);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = at(rng);
                data[i] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5) as usize];
            }
            2 => data.truncate(at(rng)),
            3 => {
                let i = at(rng).min(data.len());
                let len = 1 + rng.below(8) as usize;
                let bytes = rng.bytes(len);
                data.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let start = at(rng);
                let end = (start + 1 + rng.below(16) as usize).min(data.len());
                let copy = data[start..end].to_vec();
                data.splice(end..end, copy);
            }
            _ if len > 0 => {
                let start = at(rng);
                let end = (start + 1 + rng.below(16) as usize).min(data.len());
                data.drain(start..end);
            }
            _ => data.push(rng.below(256) as u8),
        }
    }
    data
}

#[test]
fn mutations_of_the_seeds_keep_every_invariant() {
    let mut failures = Vec::new();
    for (t, target) in TARGETS.iter().enumerate() {
        let seeds: Vec<Vec<u8>> = ["corpus", "regressions"]
            .iter()
            .flat_map(|kind| inputs(kind, target))
            .map(|(_, data)| data)
            .collect();
        assert!(!seeds.is_empty(), "no seeds for {}", target.name);
        let mut rng = Rng::new(0x0f05_5eed ^ t as u64);
        for _ in 0..MUTATIONS_PER_TARGET {
            let seed = &seeds[rng.below(seeds.len() as u64) as usize];
            let data = mutate(seed, &mut rng);
            if let Err(message) = outcome(target, &data) {
                failures.push(format!("{} on {}: {message}", target.name, to_hex(&data)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "rewrites fuzz/corpus/: run by hand, see fuzz/README.md"]
fn reseed() {
    for (target, seeds) in seeds::all() {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for (name, bytes) in seeds {
            let path = dir.join(name);
            fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn the_seeds_cover_exactly_the_targets() {
    let seeded: Vec<&str> = seeds::all().iter().map(|(name, _)| *name).collect();
    let targets: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(seeded, targets);
}
