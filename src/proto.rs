//! Types generated from `proto/` by `build.rs` (prost). Nothing here is
//! written by hand.
//!
//! Bytes fields are [`bytes::Bytes`] (a decoded payload shares the frame
//! body's memory) and map fields are `BTreeMap` (deterministic encodings).

use std::sync::OnceLock;

use prost_reflect::DescriptorPool;

/// `running_process.broker.v1`: envelope, admin, service definitions,
/// manifests, identity record and lifecycle events.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/running_process.broker.v1.rs"));
}

/// `running_process.broker.v2`: the side messages v2 adds on top of v1.
pub mod v2 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/running_process.broker.v2.rs"));
}

/// The encoded `FileDescriptorSet` of every schema in `proto/`.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));

/// Reflection over both schemas: field names, enum value names, text format.
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The descriptor set is produced by our own build script from our
        // own schemas; failing to decode it means the build itself is broken.
        #[allow(clippy::expect_used)]
        DescriptorPool::decode(DESCRIPTOR_SET).expect("build.rs wrote a valid descriptor set")
    })
}
