//! The mutation engine: `seed + index → bytes`, pure and deterministic, so
//! any frame a storm sent can be rebuilt from its finding.
//!
//! Every mutation starts from a golden v1 wire frame (`golden/v1/wire_*.bin`,
//! embedded in the crate) and applies one [`MutationKind`].

use serde::{Deserialize, Serialize};

use crate::golden::Corpus;
use crate::proto::v1::{AdminRequest, AdminVerb};
use crate::wire::framing::{decode_frame_body, split_frame};
use crate::wire::{MAX_FRAME_BYTES, PAYLOAD_PROTOCOL_ADMIN, decode_payload};

/// The body lengths a length-field rewrite writes (FRM-2, FRM-5): empty,
/// around 64 KiB, around the 16 MiB limit, and the largest u32.
pub(crate) const LENGTH_REWRITES: [u32; 8] = [
    0,
    (1 << 16) - 1,
    1 << 16,
    (1 << 16) + 1,
    MAX_FRAME_BYTES - 1,
    MAX_FRAME_BYTES,
    MAX_FRAME_BYTES + 1,
    u32::MAX,
];

/// How a seed frame is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MutationKind {
    /// 1 to 8 bits flipped anywhere.
    BitFlips,
    /// Cut short at a random length.
    Truncation,
    /// The header's body length replaced by one of `LENGTH_REWRITES`.
    LengthRewrite,
    /// 1 to 16 random bytes inserted at a random offset.
    InsertBytes,
    /// 1 to 16 bytes deleted at a random offset.
    DeleteBytes,
    /// 1 to 32 random bytes before the frame.
    GarbagePrefix,
    /// Two to four frames (some damaged) sent back to back.
    Pipelined,
}

impl MutationKind {
    /// Every kind, in the order the engine cycles through them.
    pub const ALL: [Self; 7] = [
        Self::BitFlips,
        Self::Truncation,
        Self::LengthRewrite,
        Self::InsertBytes,
        Self::DeleteBytes,
        Self::GarbagePrefix,
        Self::Pipelined,
    ];
}

/// One mutated input: what to send and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// The golden frame it started from.
    pub seed_frame: String,
    /// The damage done.
    pub kind: MutationKind,
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Whether the sender half-closes after writing.
    pub half_close: bool,
}

/// The seed frames and the storm's seed: `mutation(i)` is a pure function.
#[derive(Debug, Clone)]
pub struct MutationEngine {
    seed: u64,
    frames: Vec<(String, Vec<u8>)>,
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The corpus holds no `v1/wire_*.bin` frame.
    #[error("the golden corpus holds no v1/wire_*.bin frame to mutate")]
    NoSeedFrames,
}

impl MutationEngine {
    /// An engine over the golden v1 wire frames of `corpus`.
    pub fn new(seed: u64, corpus: &Corpus) -> Result<Self, EngineError> {
        let frames: Vec<_> = corpus
            .files
            .iter()
            .filter(|(path, _)| path.starts_with("v1/wire_") && path.ends_with(".bin"))
            .map(|(path, bytes)| (path.clone(), bytes.clone()))
            .collect();
        if frames.is_empty() {
            return Err(EngineError::NoSeedFrames);
        }
        Ok(Self { seed, frames })
    }

    /// The storm's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The `index`-th mutation of this seed. Never an admin SHUTDOWN or
    /// DIAGNOSE (those would stop the broker or write files, not probe it):
    /// such a draw is drawn again.
    pub fn mutation(&self, index: u64) -> Mutation {
        for attempt in 0..8u64 {
            let m = self.draw(index, attempt);
            if !is_disruptive(&m.bytes) {
                return m;
            }
        }
        let (name, bytes) = &self.frames[(index as usize) % self.frames.len()];
        Mutation {
            seed_frame: name.clone(),
            kind: MutationKind::Truncation,
            bytes: bytes[..bytes.len() / 2].to_vec(),
            half_close: true,
        }
    }

    fn draw(&self, index: u64, attempt: u64) -> Mutation {
        let mut rng = fastrand::Rng::with_seed(mix(self.seed, index, attempt));
        let kind = MutationKind::ALL[(index % MutationKind::ALL.len() as u64) as usize];
        let (name, frame) = &self.frames[rng.usize(..self.frames.len())];
        let bytes = match kind {
            MutationKind::Pipelined => {
                let mut out = frame.clone();
                for _ in 0..rng.usize(1..=3) {
                    let (_, next) = &self.frames[rng.usize(..self.frames.len())];
                    let next = if rng.bool() {
                        next.clone()
                    } else {
                        damage(MutationKind::BitFlips, next, &mut rng)
                    };
                    out.extend_from_slice(&next);
                }
                out
            }
            _ => damage(kind, frame, &mut rng),
        };
        Mutation {
            seed_frame: name.clone(),
            kind,
            bytes,
            half_close: rng.bool(),
        }
    }
}

/// `frame` damaged as `kind` says (not [`MutationKind::Pipelined`], which
/// combines frames).
fn damage(kind: MutationKind, frame: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut out = frame.to_vec();
    match kind {
        MutationKind::BitFlips => {
            for _ in 0..rng.usize(1..=8) {
                if !out.is_empty() {
                    let at = rng.usize(..out.len());
                    out[at] ^= 1 << rng.u8(..8);
                }
            }
        }
        MutationKind::Truncation => out.truncate(rng.usize(..out.len().max(1))),
        MutationKind::LengthRewrite => {
            let len = LENGTH_REWRITES[rng.usize(..LENGTH_REWRITES.len())];
            if out.len() >= 5 {
                out[1..5].copy_from_slice(&len.to_le_bytes());
            }
        }
        MutationKind::InsertBytes => {
            let at = rng.usize(..=out.len());
            let junk: Vec<u8> = (0..rng.usize(1..=16)).map(|_| rng.u8(..)).collect();
            out.splice(at..at, junk);
        }
        MutationKind::DeleteBytes => {
            if !out.is_empty() {
                let at = rng.usize(..out.len());
                let end = (at + rng.usize(1..=16)).min(out.len());
                out.drain(at..end);
            }
        }
        MutationKind::GarbagePrefix => {
            let junk: Vec<u8> = (0..rng.usize(1..=32)).map(|_| rng.u8(..)).collect();
            out.splice(0..0, junk);
        }
        MutationKind::Pipelined => {}
    }
    out
}

/// A 64-bit mix of the seed, the index and the attempt (splitmix64 steps).
fn mix(seed: u64, index: u64, attempt: u64) -> u64 {
    let mut z = seed
        ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ attempt.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// True when the first frame of `bytes` is an admin SHUTDOWN or DIAGNOSE.
fn is_disruptive(bytes: &[u8]) -> bool {
    let Ok((body, _)) = split_frame(&bytes::Bytes::copy_from_slice(bytes), MAX_FRAME_BYTES) else {
        return false;
    };
    let Ok(frame) = decode_frame_body(body) else {
        return false;
    };
    frame.payload_protocol == PAYLOAD_PROTOCOL_ADMIN
        && decode_payload::<AdminRequest>(&frame).is_ok_and(|r| {
            r.verb == AdminVerb::Shutdown as i32 || r.verb == AdminVerb::Diagnose as i32
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(seed: u64) -> MutationEngine {
        MutationEngine::new(seed, &Corpus::embedded()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_same_seed_and_index_give_the_same_bytes() {
        let (a, b) = (engine(7), engine(7));
        for i in 0..500 {
            assert_eq!(a.mutation(i), b.mutation(i), "index {i}");
        }
    }

    #[test]
    fn another_seed_gives_other_bytes() {
        let (a, b) = (engine(7), engine(8));
        let differing = (0..200)
            .filter(|i| a.mutation(*i).bytes != b.mutation(*i).bytes)
            .count();
        assert!(differing > 150, "only {differing} of 200 differ");
    }

    #[test]
    fn every_kind_occurs_and_changes_its_seed_frame() {
        let e = engine(1);
        let corpus = Corpus::embedded();
        for kind in MutationKind::ALL {
            let changed = (0..700)
                .map(|i| e.mutation(i))
                .filter(|m| m.kind == kind)
                .filter(|m| corpus.files.get(&m.seed_frame) != Some(&m.bytes))
                .count();
            assert!(changed > 50, "{kind:?}: only {changed} changed inputs");
        }
    }

    #[test]
    fn length_rewrites_write_every_boundary_length() {
        let e = engine(3);
        let lengths: std::collections::BTreeSet<u32> = (0..2000)
            .map(|i| e.mutation(i))
            .filter(|m| m.kind == MutationKind::LengthRewrite)
            .map(|m| u32::from_le_bytes([m.bytes[1], m.bytes[2], m.bytes[3], m.bytes[4]]))
            .collect();
        assert_eq!(lengths, LENGTH_REWRITES.into_iter().collect());
    }

    #[test]
    fn no_mutation_is_an_admin_shutdown() {
        let e = engine(11);
        assert!((0..20_000).all(|i| !is_disruptive(&e.mutation(i).bytes)));
    }

    #[test]
    fn a_shutdown_request_is_disruptive() {
        let corpus = Corpus::embedded();
        let shutdown = crate::wire::frames::admin_request(
            &AdminRequest {
                verb: AdminVerb::Shutdown as i32,
                ..AdminRequest::default()
            },
            1,
        );
        let bytes = crate::wire::framing::encode_frame(&shutdown).unwrap_or_else(|e| panic!("{e}"));
        assert!(is_disruptive(&bytes));
        assert!(!is_disruptive(
            &corpus.files["v1/wire_admin_request_status.bin"]
        ));
    }
}
