//! Build script: compiles the v1 and v2 schemas with protox (a pure-Rust
//! protobuf compiler, so no system `protoc` and no download), generates the
//! prost types, keeps the descriptor set for reflection, and embeds the
//! golden corpus so the binary can show and replay it from anywhere.

use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use prost::Message as _;

const PROTO_FILES: &[&str] = &[
    "v1/envelope.proto",
    "v1/admin.proto",
    "v1/service_def.proto",
    "v1/manifest.proto",
    "v2/control.proto",
    "v2/manifest.proto",
    "v2/service_def.proto",
    "v2/session.proto",
];

/// Directories whose files are embedded into the binary.
const EMBEDDED_DIRS: &[(&str, &str)] = &[
    ("golden", "embedded_golden.rs"),
    ("conformance", "embedded_conformance.rs"),
];

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    compile_protos(&manifest_dir, &out_dir)?;
    for (dir, file) in EMBEDDED_DIRS {
        embed_dir(&manifest_dir.join(dir), &out_dir.join(file))?;
    }
    Ok(())
}

fn compile_protos(manifest_dir: &Path, out_dir: &Path) -> Result<(), Box<dyn Error>> {
    let proto_root = manifest_dir.join("proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    let files: Vec<PathBuf> = PROTO_FILES.iter().map(|f| proto_root.join(f)).collect();
    let descriptors = protox::compile(&files, [&proto_root])?;
    fs::write(
        out_dir.join("descriptor_set.bin"),
        descriptors.encode_to_vec(),
    )?;
    prost_build::Config::new()
        // Payloads decode as slices of the frame body: no copy per frame.
        .bytes(["."])
        // Maps encode in key order, so encodings are deterministic.
        .btree_map(["."])
        // `prost::Name` lets the golden corpus find a type by its full name.
        .enable_type_names()
        .compile_fds(descriptors)?;
    Ok(())
}

/// Writes `out` as a Rust slice of `(relative path, bytes)` for every file
/// below `dir`, sorted by path. A missing directory embeds nothing.
fn embed_dir(dir: &Path, out: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    if dir.is_dir() {
        collect_files(dir, dir, &mut files)?;
    }
    files.sort();
    let mut code = String::from("&[\n");
    for rel in files {
        let abs = dir.join(&rel);
        writeln!(
            code,
            "    ({:?}, include_bytes!({:?}) as &[u8]),",
            rel,
            abs.display().to_string()
        )?;
    }
    code.push(']');
    fs::write(out, code)?;
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<String>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(root, &path, files)?;
        } else {
            let rel = path.strip_prefix(root)?;
            let rel = rel
                .to_str()
                .ok_or_else(|| format!("non-UTF-8 file name under {}", root.display()))?;
            files.push(rel.replace(std::path::MAIN_SEPARATOR, "/"));
        }
    }
    Ok(())
}
