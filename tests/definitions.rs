//! Service definitions and cache manifests on real files: the loader's
//! SVC-3 check order, v2-before-v1, SEC-3, change detection, the builders,
//! manifest sealing (MAN-1), locations and atomic writes (MAN-2, MAN-3), and
//! the `servicedef` CLI.
#![cfg(unix)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use broker_conformance::definitions::{
    CacheManifestBuilder, CacheManifestV2Builder, DefinitionChange, DefinitionProblem, Generation,
    Isolation, LoadError, ManifestError, ServiceDefinitionBuilder, ServiceDefinitionLoader,
    encode_sealed, instance_id, manifest_digest, read_manifest_v2, read_verified_manifest,
    root_manifest_path, seal_manifest, service_def_file_name, v2_to_v1, validate_definition,
    write_atomic, write_manifest, write_manifest_v2, write_service_definition,
    write_service_definition_v2,
};
use broker_conformance::proto::{v1, v2};
use broker_conformance::wire::env_vars;
use bytes::Bytes;
use prost::Message;
use rstest::rstest;
use tempfile::TempDir;

// ------------------------------------------------------------------ helpers

/// A fresh directory with mode 0700 (tempfile's mode follows the umask).
fn temp_dir() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("defs")
        .tempdir_in("/tmp")
        .unwrap();
    chmod(dir.path(), 0o700);
    dir
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn valid_def(service: &str) -> v1::ServiceDefinition {
    v1::ServiceDefinition {
        service_name: service.into(),
        binary_path: format!("/opt/{service}/1.0.0/bin/{service}"),
        per_version_binary_dir: format!("/opt/{service}/1.0.0"),
        ..Default::default()
    }
}

fn def_path(dir: &Path, service: &str, generation: Generation) -> PathBuf {
    dir.join(service_def_file_name(service, generation))
}

/// Writes raw bytes as a definition file, bypassing every check.
fn put(dir: &Path, service: &str, generation: Generation, bytes: &[u8]) -> PathBuf {
    let path = def_path(dir, service, generation);
    fs::write(&path, bytes).unwrap();
    path
}

fn put_v1(dir: &Path, def: &v1::ServiceDefinition, service: &str) -> PathBuf {
    put(dir, service, Generation::V1, &def.encode_to_vec())
}

fn unloadable(result: Result<impl std::fmt::Debug, LoadError>) -> (PathBuf, String) {
    match result {
        Err(LoadError::Unloadable { path, detail }) => (path, detail),
        other => panic!("expected Unloadable, got {other:?}"),
    }
}

// ------------------------------------------------------------------ loader

/// SVC-1, SVC-3: a v1 file in the definition directory loads.
#[test]
fn a_valid_v1_definition_loads_as_first_load() {
    let dir = temp_dir();
    let path = put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    let loaded = loader.load("zccache").unwrap();
    assert_eq!(loaded.definition, valid_def("zccache"));
    assert_eq!(loaded.generation, Generation::V1);
    assert_eq!(loaded.path, path);
    assert_eq!(loaded.http_server, None);
    assert_eq!(loaded.change, DefinitionChange::FirstLoad);
}

/// SVC-2, V2-1: the v2 file is read first.
#[test]
fn the_v2_file_is_consulted_before_the_v1_file() {
    let dir = temp_dir();
    put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let http = v2::HttpServerCapability {
        bind_addr: "127.0.0.1".into(),
        health_path: "/health".into(),
        display_name: "zc".into(),
    };
    let v2_def = ServiceDefinitionBuilder::new("zccache")
        .binary_path("/opt/zccache/2.0.0/zccache")
        .per_version_binary_dir("/opt/zccache/2.0.0")
        .build_v2(Some(http.clone()))
        .unwrap();
    let v2_path = write_service_definition_v2(dir.path(), &v2_def).unwrap();
    let loaded = ServiceDefinitionLoader::new(dir.path().to_path_buf())
        .load("zccache")
        .unwrap();
    assert_eq!(loaded.generation, Generation::V2);
    assert_eq!(loaded.path, v2_path);
    assert_eq!(loaded.definition, v2_to_v1(&v2_def));
    assert_eq!(loaded.http_server, Some(http));
}

/// SVC-2: only "not found" falls back; a v2 error is reported as such. V2-2.
#[test]
fn an_undecodable_v2_file_is_reported_without_falling_back_to_v1() {
    let dir = temp_dir();
    put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let v2_path = put(dir.path(), "zccache", Generation::V2, &[0x0a, 0x05, b'x']);
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    let (path, detail) = unloadable(loader.load("zccache"));
    assert_eq!(path, v2_path);
    assert!(
        detail.starts_with(&format!(
            "{}: not a valid v2 ServiceDefinition: ",
            v2_path.display()
        )),
        "{detail}"
    );
}

/// SVC-2, SVC-3, HEL-14.
#[test]
fn an_invalid_v2_definition_is_reported_with_its_path_and_clause() {
    let dir = temp_dir();
    put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let mut bad = v1_to_v2_unchecked(valid_def("zccache"));
    bad.binary_path = "rel/bin".into();
    let v2_path = put(dir.path(), "zccache", Generation::V2, &bad.encode_to_vec());
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    let err = loader.load("zccache").unwrap_err();
    assert_eq!(
        err.refusal_reason(),
        format!(
            "service definition could not be loaded: {}: binary_path \"rel/bin\" is not absolute (SVC-3)",
            v2_path.display()
        )
    );
}

fn v1_to_v2_unchecked(def: v1::ServiceDefinition) -> v2::ServiceDefinition {
    broker_conformance::definitions::v1_to_v2(def, None)
}

/// HEL-13.
#[test]
fn a_missing_directory_is_not_found() {
    let dir = temp_dir();
    let missing = dir.path().join("nope");
    let err = ServiceDefinitionLoader::new(missing.clone())
        .load("zccache")
        .unwrap_err();
    assert_eq!(
        err,
        LoadError::NotFound {
            service: "zccache".into(),
            dir: missing
        }
    );
    assert_eq!(err.refusal_reason(), "service definition was not found");
}

/// HEL-13.
#[test]
fn a_missing_file_is_not_found() {
    let dir = temp_dir();
    put_v1(dir.path(), &valid_def("other"), "other");
    let err = ServiceDefinitionLoader::new(dir.path().to_path_buf())
        .load("zccache")
        .unwrap_err();
    assert!(matches!(err, LoadError::NotFound { .. }), "{err:?}");
}

/// SEC-3 for v1 and v2 files, HEL-14.
#[rstest]
#[case::v1(Generation::V1)]
#[case::v2(Generation::V2)]
fn a_directory_open_to_group_or_other_makes_definitions_unloadable(#[case] generation: Generation) {
    let dir = temp_dir();
    let def = valid_def("zccache");
    let bytes = match generation {
        Generation::V1 => def.encode_to_vec(),
        Generation::V2 => v1_to_v2_unchecked(def).encode_to_vec(),
    };
    put(dir.path(), "zccache", generation, &bytes);
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    for mode in [0o755, 0o710, 0o701] {
        chmod(dir.path(), mode);
        let (path, detail) = unloadable(loader.load("zccache"));
        assert_eq!(path, dir.path());
        assert!(detail.contains(&format!("mode {mode:04o}")), "{detail}");
        assert!(detail.ends_with("(SEC-3)"), "{detail}");
    }
    // The check is not cached: tightening the directory takes effect at once.
    chmod(dir.path(), 0o700);
    assert_eq!(loader.load("zccache").unwrap().generation, generation);
}

#[test]
fn an_insecure_directory_wins_over_a_missing_file() {
    let dir = temp_dir();
    chmod(dir.path(), 0o750);
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    unloadable(loader.load("zccache"));
}

// The SVC-3 checks after the directory check, one case per check. Each case
// breaks exactly one thing and names what the detail must say.
/// SVC-3, HEL-14: each loader check.
#[rstest]
#[case::decode(None, "not a valid v1 ServiceDefinition")]
#[case::service_name_mismatch(Some(mismatch as fn(&mut v1::ServiceDefinition)), "service_name \"other\" does not match the requested service \"zccache\" (SVC-3)")]
#[case::binary_path_empty(Some(empty_binary as fn(&mut _)), "binary_path is empty")]
#[case::binary_path_relative(Some(relative_binary as fn(&mut _)), "binary_path \"bin/zccache\" is not absolute (SVC-3)")]
#[case::per_version_dir_relative(Some(relative_dir as fn(&mut _)), "per_version_binary_dir \"opt/zccache\" is not absolute (SVC-3)")]
#[case::min_version_invalid(Some(bad_min as fn(&mut _)), "min_version \"1.0\" is not a valid version")]
#[case::allow_list_entry_invalid(Some(bad_allow as fn(&mut _)), "version_allow_list[1] \"1.0.0-RC\" is not a valid version")]
#[case::private_with_instance(Some(private_with_instance as fn(&mut _)), "explicit_instance \"pool\" must be empty when isolation is PRIVATE_BROKER (SVC-3)")]
#[case::shared_with_instance(Some(shared_with_instance as fn(&mut _)), "explicit_instance \"pool\" must be empty when isolation is SHARED_BROKER (SVC-3)")]
#[case::explicit_without_instance(Some(explicit_empty as fn(&mut _)), "explicit_instance \"\" is not a valid instance name")]
#[case::explicit_with_invalid_instance(Some(explicit_bad as fn(&mut _)), "explicit_instance \"Pool\" is not a valid instance name")]
#[case::unknown_isolation(Some(unknown_isolation as fn(&mut _)), "isolation 7 is not a known BrokerIsolation value (SVC-3)")]
fn each_svc_3_check_makes_the_definition_unloadable(
    #[case] breakage: Option<fn(&mut v1::ServiceDefinition)>,
    #[case] expected: &str,
) {
    let dir = temp_dir();
    let path = match breakage {
        None => put(dir.path(), "zccache", Generation::V1, &[0x12, 0x09, b'/']),
        Some(breakage) => {
            let mut def = valid_def("zccache");
            breakage(&mut def);
            put_v1(dir.path(), &def, "zccache")
        }
    };
    let (reported, detail) =
        unloadable(ServiceDefinitionLoader::new(dir.path().to_path_buf()).load("zccache"));
    assert_eq!(reported, path);
    assert!(
        detail.starts_with(&format!("{}: ", path.display())),
        "{detail}"
    );
    assert!(detail.contains(expected), "{detail:?} lacks {expected:?}");
}

fn mismatch(d: &mut v1::ServiceDefinition) {
    d.service_name = "other".into();
}
fn empty_binary(d: &mut v1::ServiceDefinition) {
    d.binary_path.clear();
}
fn relative_binary(d: &mut v1::ServiceDefinition) {
    d.binary_path = "bin/zccache".into();
}
fn relative_dir(d: &mut v1::ServiceDefinition) {
    d.per_version_binary_dir = "opt/zccache".into();
}
fn bad_min(d: &mut v1::ServiceDefinition) {
    d.min_version = "1.0".into();
}
fn bad_allow(d: &mut v1::ServiceDefinition) {
    d.version_allow_list = vec!["1.0.0".into(), "1.0.0-RC".into()];
}
fn private_with_instance(d: &mut v1::ServiceDefinition) {
    d.explicit_instance = "pool".into();
}
fn shared_with_instance(d: &mut v1::ServiceDefinition) {
    d.isolation = v1::BrokerIsolation::SharedBroker as i32;
    d.explicit_instance = "pool".into();
}
fn explicit_empty(d: &mut v1::ServiceDefinition) {
    d.isolation = v1::BrokerIsolation::ExplicitInstance as i32;
}
fn explicit_bad(d: &mut v1::ServiceDefinition) {
    d.isolation = v1::BrokerIsolation::ExplicitInstance as i32;
    d.explicit_instance = "Pool".into();
}
fn unknown_isolation(d: &mut v1::ServiceDefinition) {
    d.isolation = 7;
}

// When two checks fail, the earlier one in SVC-3 order is reported.
/// SVC-3: checks run in order.
#[rstest]
#[case::name_before_binary(&[mismatch, relative_binary], "does not match")]
#[case::binary_before_dir(&[relative_binary, relative_dir], "binary_path")]
#[case::dir_before_versions(&[relative_dir, bad_min], "per_version_binary_dir")]
#[case::min_before_allow_list(&[bad_min, bad_allow], "min_version")]
#[case::versions_before_isolation(&[bad_allow, unknown_isolation], "version_allow_list[1]")]
fn the_earlier_failing_check_wins(
    #[case] breakages: &[fn(&mut v1::ServiceDefinition)],
    #[case] expected: &str,
) {
    let dir = temp_dir();
    let mut def = valid_def("zccache");
    for breakage in breakages {
        breakage(&mut def);
    }
    put_v1(dir.path(), &def, "zccache");
    let (_, detail) =
        unloadable(ServiceDefinitionLoader::new(dir.path().to_path_buf()).load("zccache"));
    assert!(detail.contains(expected), "{detail:?} lacks {expected:?}");
    // validate_definition agrees with the loader.
    let err = validate_definition(&def, "zccache").unwrap_err();
    assert!(err.to_string().contains(expected), "{err}");
}

#[test]
fn the_directory_check_wins_over_a_decode_failure() {
    let dir = temp_dir();
    put(dir.path(), "zccache", Generation::V1, &[0xff]);
    chmod(dir.path(), 0o770);
    let (path, detail) =
        unloadable(ServiceDefinitionLoader::new(dir.path().to_path_buf()).load("zccache"));
    assert_eq!(path, dir.path());
    assert!(detail.contains("SEC-3"), "{detail}");
}

#[test]
fn a_decode_failure_wins_over_content_checks() {
    // A valid-looking prefix with a relative binary_path, then a truncated field.
    let dir = temp_dir();
    let mut bytes = v1::ServiceDefinition {
        service_name: "other".into(),
        binary_path: "rel".into(),
        ..Default::default()
    }
    .encode_to_vec();
    bytes.extend_from_slice(&[0x32, 0x10]);
    put(dir.path(), "zccache", Generation::V1, &bytes);
    let (_, detail) =
        unloadable(ServiceDefinitionLoader::new(dir.path().to_path_buf()).load("zccache"));
    assert!(
        detail.contains("not a valid v1 ServiceDefinition"),
        "{detail}"
    );
}

#[test]
fn an_unchanged_file_is_not_decoded_again() {
    let dir = temp_dir();
    put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    assert_eq!(
        loader.load("zccache").unwrap().change,
        DefinitionChange::FirstLoad
    );
    for _ in 0..3 {
        assert_eq!(
            loader.load("zccache").unwrap().change,
            DefinitionChange::Unchanged
        );
    }
    assert_eq!(loader.decode_count(), 1);
}

/// A second definition whose encoding has exactly the size of
/// `valid_def("zccache")`'s.
fn same_size_variant() -> v1::ServiceDefinition {
    let mut def = valid_def("zccache");
    def.binary_path = def.binary_path.replace("bin/zccache", "bin/zccachf");
    assert_eq!(
        def.encoded_len(),
        valid_def("zccache").encoded_len(),
        "variant must keep the size"
    );
    def
}

/// SVC-2: a changed file takes effect without a restart.
#[test]
fn an_in_place_rewrite_keeping_size_and_mtime_is_detected() {
    let dir = temp_dir();
    let path = put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    loader.load("zccache").unwrap();
    let before = fs::metadata(&path).unwrap();

    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut &file, &same_size_variant().encode_to_vec()).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let after = fs::metadata(&path).unwrap();
    assert_eq!(
        (after.ino(), after.len(), after.modified().unwrap()),
        (before.ino(), before.len(), before.modified().unwrap()),
        "the rewrite must keep inode, size and mtime"
    );

    let loaded = loader.load("zccache").unwrap();
    assert_eq!(loaded.change, DefinitionChange::Changed);
    assert_eq!(loaded.definition, same_size_variant());
}

#[test]
fn a_rename_over_keeping_size_and_mtime_is_detected() {
    let dir = temp_dir();
    let path = put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    loader.load("zccache").unwrap();
    let before = fs::metadata(&path).unwrap();

    let staged = dir.path().join("staged");
    fs::write(&staged, same_size_variant().encode_to_vec()).unwrap();
    fs::File::options()
        .write(true)
        .open(&staged)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    fs::rename(&staged, &path).unwrap();
    let after = fs::metadata(&path).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (before.len(), before.modified().unwrap())
    );

    let loaded = loader.load("zccache").unwrap();
    assert_eq!(loaded.change, DefinitionChange::Changed);
    assert_eq!(loaded.definition, same_size_variant());
}

#[test]
fn rewriting_identical_content_counts_as_unchanged() {
    let dir = temp_dir();
    let path = put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    loader.load("zccache").unwrap();
    let staged = dir.path().join("staged");
    fs::write(&staged, valid_def("zccache").encode_to_vec()).unwrap();
    fs::rename(&staged, &path).unwrap();
    assert_eq!(
        loader.load("zccache").unwrap().change,
        DefinitionChange::Unchanged
    );
}

#[test]
fn a_new_v2_file_shadowing_v1_counts_as_changed() {
    let dir = temp_dir();
    put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    loader.load("zccache").unwrap();
    put(
        dir.path(),
        "zccache",
        Generation::V2,
        &v1_to_v2_unchecked(valid_def("zccache")).encode_to_vec(),
    );
    let loaded = loader.load("zccache").unwrap();
    assert_eq!(loaded.generation, Generation::V2);
    assert_eq!(loaded.change, DefinitionChange::Changed);
}

#[test]
fn a_definition_fixed_after_an_error_loads_again() {
    let dir = temp_dir();
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    let mut bad = valid_def("zccache");
    bad.binary_path = "rel".into();
    put_v1(dir.path(), &bad, "zccache");
    unloadable(loader.load("zccache"));
    put_v1(dir.path(), &valid_def("zccache"), "zccache");
    assert_eq!(
        loader.load("zccache").unwrap().change,
        DefinitionChange::FirstLoad
    );
}

#[test]
fn a_symlinked_file_is_followed_and_the_directory_check_applies_to_the_directory() {
    let defs = temp_dir();
    let elsewhere = temp_dir();
    let target = elsewhere.path().join("real.servicedef");
    fs::write(&target, valid_def("zccache").encode_to_vec()).unwrap();
    // The target's directory is wide open; only the definition directory counts.
    chmod(elsewhere.path(), 0o755);
    let link = def_path(defs.path(), "zccache", Generation::V1);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let loader = ServiceDefinitionLoader::new(defs.path().to_path_buf());
    let loaded = loader.load("zccache").unwrap();
    assert_eq!(loaded.path, link);
    assert_eq!(loaded.definition, valid_def("zccache"));
    chmod(defs.path(), 0o755);
    unloadable(loader.load("zccache"));
}

#[test]
fn a_fifo_in_place_of_a_definition_is_unloadable_without_blocking() {
    let dir = temp_dir();
    let path = def_path(dir.path(), "zccache", Generation::V1);
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let (_, detail) =
        unloadable(ServiceDefinitionLoader::new(dir.path().to_path_buf()).load("zccache"));
    assert!(detail.ends_with("is not a regular file"), "{detail}");
}

#[test]
fn a_directory_in_place_of_a_definition_is_unloadable() {
    let dir = temp_dir();
    fs::create_dir(def_path(dir.path(), "zccache", Generation::V2)).unwrap();
    let (path, _) =
        unloadable(ServiceDefinitionLoader::new(dir.path().to_path_buf()).load("zccache"));
    assert_eq!(path, def_path(dir.path(), "zccache", Generation::V2));
}

#[test]
fn names_outside_the_grammar_never_reach_the_file_system() {
    let dir = temp_dir();
    // A file a path-traversing name would reach if joined unchecked.
    fs::write(
        dir.path().join("x.servicedef"),
        valid_def("x").encode_to_vec(),
    )
    .unwrap();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    chmod(&sub, 0o700);
    let loader = ServiceDefinitionLoader::new(sub);
    for name in ["../x", "X", "", &"a".repeat(65)] {
        assert!(
            matches!(loader.load(name), Err(LoadError::NotFound { .. })),
            "{name:?}"
        );
    }
}

#[test]
fn one_loader_serves_many_threads() {
    let dir = temp_dir();
    put_v1(dir.path(), &valid_def("zccache"), "zccache");
    let loader = ServiceDefinitionLoader::new(dir.path().to_path_buf());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| loader.load("zccache").unwrap().definition))
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), valid_def("zccache"));
        }
    });
}

// ---------------------------------------------------------------- builders

#[test]
fn the_builder_output_is_written_and_loaded_back_unchanged() {
    let dir = temp_dir();
    let defs = dir.path().join("a/b/services");
    let def = ServiceDefinitionBuilder::new("zccache")
        .binary_path("/opt/zccache/1.2.3/zccache")
        .per_version_binary_dir("/opt/zccache/1.2.3")
        .min_version("1.0.0")
        .allow_version("1.2.3")
        .allow_version("1.2.4-rc.1")
        .isolation(Isolation::Explicit("pool-a".into()))
        .label("handoff", "1")
        .build()
        .unwrap();
    assert_eq!(def.isolation, v1::BrokerIsolation::ExplicitInstance as i32);
    assert_eq!(def.explicit_instance, "pool-a");
    assert_eq!(instance_id(&def), "explicit:pool-a");
    let path = write_service_definition(&defs, &def).unwrap();
    assert_eq!(path, defs.join("zccache.servicedef"));
    assert_eq!(mode_of(&defs), 0o700);
    assert_eq!(mode_of(&dir.path().join("a")), 0o700);
    assert_eq!(mode_of(&path), 0o600);
    let loaded = ServiceDefinitionLoader::new(defs).load("zccache").unwrap();
    assert_eq!(loaded.definition, def);
}

#[test]
fn instance_ids_follow_the_isolation() {
    let private = ServiceDefinitionBuilder::new("zccache")
        .binary_path("/b")
        .build()
        .unwrap();
    assert_eq!(instance_id(&private), "private:zccache");
    let shared = ServiceDefinitionBuilder::new("zccache")
        .binary_path("/b")
        .isolation(Isolation::Shared)
        .build()
        .unwrap();
    assert_eq!(instance_id(&shared), "shared");
}

#[rstest]
#[case::service_name(ServiceDefinitionBuilder::new("Zc").binary_path("/b"), "service_name \"Zc\"")]
#[case::empty_service_name(ServiceDefinitionBuilder::new("").binary_path("/b"), "service_name \"\"")]
#[case::missing_binary(ServiceDefinitionBuilder::new("zc"), "binary_path is empty")]
#[case::relative_binary(ServiceDefinitionBuilder::new("zc").binary_path("b"), "binary_path \"b\" is not absolute")]
#[case::relative_dir(ServiceDefinitionBuilder::new("zc").binary_path("/b").per_version_binary_dir("d"), "per_version_binary_dir \"d\" is not absolute")]
#[case::min_version(ServiceDefinitionBuilder::new("zc").binary_path("/b").min_version("v1.0.0"), "min_version \"v1.0.0\"")]
#[case::allow_version(ServiceDefinitionBuilder::new("zc").binary_path("/b").allow_version("1.0.0+b"), "version_allow_list[0] \"1.0.0+b\"")]
#[case::explicit_empty(ServiceDefinitionBuilder::new("zc").binary_path("/b").isolation(Isolation::Explicit(String::new())), "explicit_instance \"\"")]
#[case::explicit_bad(ServiceDefinitionBuilder::new("zc").binary_path("/b").isolation(Isolation::Explicit("a_b".into())), "explicit_instance \"a_b\"")]
fn the_builder_rejects_each_invalid_input(
    #[case] builder: ServiceDefinitionBuilder,
    #[case] expected: &str,
) {
    let err = builder.clone().build().unwrap_err();
    assert_eq!(err.problems().len(), 1, "{err}");
    let message = err.problems()[0].to_string();
    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    assert!(message.ends_with("(SVC-3)"), "{message}");
    assert!(builder.build_v2(None).is_err());
}

#[test]
fn the_builder_reports_every_problem_in_check_order() {
    let err = ServiceDefinitionBuilder::new("zc")
        .binary_path("rel")
        .per_version_binary_dir("rel-dir")
        .min_version("1")
        .allow_version("2")
        .isolation(Isolation::Explicit("Bad".into()))
        .build()
        .unwrap_err();
    let fields: Vec<String> = err
        .problems()
        .iter()
        .map(|p| p.to_string().split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        [
            "binary_path",
            "per_version_binary_dir",
            "min_version",
            "version_allow_list[0]",
            "explicit_instance"
        ]
    );
}

#[test]
fn the_builder_rejects_paths_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(b"/opt/\xff/bin"));
    let err = ServiceDefinitionBuilder::new("zc")
        .binary_path(path)
        .build()
        .unwrap_err();
    assert!(matches!(
        err.problems(),
        [DefinitionProblem::NonUtf8Path {
            field: "binary_path",
            ..
        }]
    ));
}

#[test]
fn writing_an_invalid_definition_writes_nothing() {
    let dir = temp_dir();
    let mut def = valid_def("zccache");
    def.binary_path = "rel".into();
    let err = write_service_definition(dir.path(), &def).unwrap_err();
    assert!(err.to_string().contains("binary_path \"rel\""), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

// --------------------------------------------------------------- manifests

fn golden_manifest() -> Vec<u8> {
    fs::read(support::golden_dir().join("v1/cache_manifest.bin")).unwrap()
}

/// MAN-1.
#[test]
fn the_golden_manifest_is_accepted_and_resealing_reproduces_its_bytes() {
    let bytes = golden_manifest();
    let manifest = read_verified_manifest(&bytes).unwrap();
    assert_eq!(manifest.service_name, "zccache");
    let mut unsealed = manifest.clone();
    unsealed.self_sha256 = Bytes::new();
    unsealed.manifest_schema_version = 0;
    unsealed.media_type.clear();
    assert_eq!(encode_sealed(&unsealed), bytes);
    seal_manifest(&mut unsealed);
    assert_eq!(unsealed, manifest);
}

/// MAN-1.
#[test]
fn a_tampered_manifest_is_rejected_as_a_wrong_digest() {
    let mut bytes = golden_manifest();
    let at = bytes
        .windows(7)
        .position(|w| w == b"zccache")
        .expect("service name in the golden");
    bytes[at + 6] = b'f';
    let err = read_verified_manifest(&bytes).unwrap_err();
    assert!(matches!(err, ManifestError::WrongDigest { .. }), "{err}");
    assert!(err.to_string().contains("self_sha256 is "), "{err}");
}

#[test]
fn a_manifest_without_a_digest_is_rejected() {
    let mut manifest = read_verified_manifest(&golden_manifest()).unwrap();
    manifest.self_sha256 = Bytes::new();
    let err = read_verified_manifest(&manifest.encode_to_vec()).unwrap_err();
    assert!(matches!(err, ManifestError::MissingDigest), "{err}");
}

/// MAN-1.
#[test]
fn a_newer_schema_version_is_rejected_even_with_a_right_digest() {
    let mut manifest = read_verified_manifest(&golden_manifest()).unwrap();
    manifest.manifest_schema_version = 2;
    manifest.self_sha256 = Bytes::copy_from_slice(&manifest_digest(&manifest));
    let err = read_verified_manifest(&manifest.encode_to_vec()).unwrap_err();
    assert!(
        matches!(err, ManifestError::SchemaTooNew { found: 2 }),
        "{err}"
    );
}

#[test]
fn undecodable_manifest_bytes_are_rejected() {
    let err = read_verified_manifest(&[0x0a, 0x7f]).unwrap_err();
    assert!(matches!(err, ManifestError::Decode { .. }), "{err}");
}

/// MAN-2, MAN-3.
#[test]
fn write_manifest_puts_a_root_copy_in_the_first_root_and_a_central_copy() {
    let dir = temp_dir();
    let data = dir.path().join("cache/data");
    let logs = dir.path().join("cache/logs");
    let registry = dir.path().join("share/manifests");
    let manifest = CacheManifestBuilder::new("zccache", "1.11.20")
        .root(&data, v1::CacheRootKind::CacheData)
        .root(&logs, v1::CacheRootKind::CacheLogs)
        .broker_instance("private:zccache")
        .depends_on("soldr", "2.0.0", true)
        .build()
        .unwrap();
    let paths = write_manifest(&manifest, &registry).unwrap();
    assert_eq!(paths.central, registry.join("zccache-1.11.20.pb"));
    assert_eq!(paths.root, Some(data.join(".running-process-manifest.pb")));
    for dir in [&data, &registry] {
        assert_eq!(mode_of(dir), 0o700, "{}", dir.display());
    }
    for file in [&paths.central, paths.root.as_ref().unwrap()] {
        assert_eq!(mode_of(file), 0o600);
        assert_eq!(
            read_verified_manifest(&fs::read(file).unwrap()).unwrap(),
            manifest
        );
    }
    assert!(!logs.exists(), "only the first root gets a copy");
}

#[test]
fn write_manifest_refuses_an_insecure_registry() {
    let dir = temp_dir();
    let registry = dir.path().join("registry");
    fs::create_dir(&registry).unwrap();
    chmod(&registry, 0o755);
    let manifest = CacheManifestBuilder::new("zccache", "1.0.0")
        .build()
        .unwrap();
    let err = write_manifest(&manifest, &registry).unwrap_err();
    assert!(
        matches!(err, ManifestError::InsecureDirectory { mode: 0o755, .. }),
        "{err}"
    );
    assert_eq!(fs::read_dir(&registry).unwrap().count(), 0);
}

#[test]
fn the_manifest_builder_reports_every_invalid_field() {
    let err = CacheManifestBuilder::new("Zc", "1.0")
        .root("relative/root", v1::CacheRootKind::CacheData)
        .depends_on("Bad", "x", false)
        .build()
        .unwrap_err();
    let ManifestError::Invalid { problems } = &err else {
        panic!("{err}")
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "service_name",
            "service_version",
            "roots[0].path",
            "depends_on[0].service_name",
            "depends_on[0].min_version"
        ]
    );
    assert!(
        err.to_string()
            .contains("roots[0].path \"relative/root\" is not an absolute path (MAN-2)"),
        "{err}"
    );
}

#[test]
fn v2_manifests_are_written_under_their_own_names_and_read_back() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    let registry = dir.path().join("registry");
    let manifest = CacheManifestV2Builder::new("zccache", "2.0.0")
        .root(&root, v2::CacheRootKind::CacheData)
        .bundle_id("b-1")
        .build()
        .unwrap();
    assert_eq!(manifest.broker_envelope_version, "v2");
    let paths = write_manifest_v2(&manifest, &registry).unwrap();
    assert_eq!(paths.central, registry.join("zccache-2.0.0.v2.pb"));
    assert_eq!(paths.root, Some(root_manifest_path(&root, Generation::V2)));
    for file in [&paths.central, paths.root.as_ref().unwrap()] {
        assert_eq!(
            read_manifest_v2(&fs::read(file).unwrap()).unwrap(),
            manifest
        );
    }
    let bad = v2::CacheManifest {
        service_name: "zc".into(),
        service_version: "nope".into(),
        ..Default::default()
    };
    assert!(read_manifest_v2(&bad.encode_to_vec()).is_err());
    assert!(write_manifest_v2(&bad, &registry).is_err());
}

/// MAN-3.
#[test]
fn a_failed_atomic_write_leaves_no_temp_file() {
    // The target is a non-empty directory, so the rename fails even for root.
    let dir = temp_dir();
    let target = dir.path().join("zccache-1.0.0.pb");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"x").unwrap();
    assert!(write_atomic(&target, b"bytes", 0o600).is_err());
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("zccache-1.0.0.pb")]);
}

// --------------------------------------------------------------------- CLI

fn cli() -> Command {
    let mut cmd = Command::cargo_bin("broker-conformance").unwrap();
    cmd.env_remove(env_vars::SERVICE_DEF_DIR);
    cmd
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn servicedef_install_then_show_round_trips() {
    let dir = temp_dir();
    let defs = dir.path().join("services");
    let output = cli()
        .args(["servicedef", "install", "--service", "zccache"])
        .args(["--binary-path", "/opt/zccache/1.0.0/zccache"])
        .args(["--per-version-binary-dir", "/opt/zccache/1.0.0"])
        .args(["--min-version", "1.0.0", "--allow-version", "1.0.0"])
        .args(["--allow-version", "1.0.1", "--isolation", "shared"])
        .args(["--label", "handoff=1", "--service-def-dir"])
        .arg(&defs)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let path = defs.join("zccache.servicedef");
    assert_eq!(stdout_of(&output).trim(), path.to_str().unwrap());
    assert!(output.stderr.is_empty(), "{output:?}");

    let loaded = ServiceDefinitionLoader::new(defs.clone())
        .load("zccache")
        .unwrap();
    assert_eq!(
        loaded.definition.isolation,
        v1::BrokerIsolation::SharedBroker as i32
    );
    assert_eq!(loaded.definition.version_allow_list, ["1.0.0", "1.0.1"]);
    assert_eq!(
        loaded.definition.labels.get("handoff").map(String::as_str),
        Some("1")
    );

    let shown = cli()
        .args(["servicedef", "show"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
    let text = stdout_of(&shown);
    for line in [
        "generation: v1",
        "service_name: \"zccache\"",
        "isolation: SHARED_BROKER",
        "instance_id: shared",
        "min_version: \"1.0.0\"",
        "version_allow_list: [\"1.0.0\", \"1.0.1\"]",
        "valid",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in\n{text}"
        );
    }
}

#[test]
fn servicedef_install_v2_writes_a_loadable_v2_file() {
    let dir = temp_dir();
    let output = cli()
        .args(["servicedef", "install", "--v2", "--service", "zccache"])
        .args([
            "--binary-path",
            "/opt/z/zccache",
            "--per-version-binary-dir",
            "/opt/z",
        ])
        .args(["--http-bind-addr", "127.0.0.1", "--http-health-path", "/hz"])
        .env(env_vars::SERVICE_DEF_DIR, dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let loaded = ServiceDefinitionLoader::new(dir.path().to_path_buf())
        .load("zccache")
        .unwrap();
    assert_eq!(loaded.generation, Generation::V2);
    let http = loaded.http_server.unwrap();
    assert_eq!(
        (http.bind_addr.as_str(), http.health_path.as_str()),
        ("127.0.0.1", "/hz")
    );

    let shown = cli()
        .args(["servicedef", "show", "--json"])
        .arg(&loaded.path)
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(json["generation"], "v2");
    assert_eq!(json["valid"], true);
    assert_eq!(json["definition"]["http_server"]["health_path"], "/hz");
}

#[test]
fn servicedef_install_prints_one_line_per_problem_and_exits_2() {
    let dir = temp_dir();
    let output = cli()
        .args([
            "servicedef",
            "install",
            "--service",
            "Zc",
            "--binary-path",
            "rel",
        ])
        .args(["--min-version", "1.0", "--explicit-instance", "x"])
        .arg("--service-def-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
    assert!(stderr.lines().all(|l| l.starts_with("error: ")), "{stderr}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn servicedef_install_warns_about_an_unlaunchable_definition() {
    let dir = temp_dir();
    let output = cli()
        .args([
            "servicedef",
            "install",
            "--service",
            "zc",
            "--binary-path",
            "/b/zc",
        ])
        .arg("--service-def-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--per-version-binary-dir"), "{stderr}");
}

#[test]
fn servicedef_install_without_any_directory_exits_2() {
    let output = cli()
        .env_clear()
        .args([
            "servicedef",
            "install",
            "--service",
            "zc",
            "--binary-path",
            "/b/zc",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--service-def-dir"), "{stderr}");
}

#[test]
fn servicedef_show_exits_1_for_an_invalid_definition() {
    let dir = temp_dir();
    let mut def = valid_def("zccache");
    def.min_version = "1.0".into();
    let path = put_v1(dir.path(), &def, "zccache");
    chmod(dir.path(), 0o755);
    let output = cli()
        .args(["servicedef", "show"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stdout_of(&output);
    let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(fails.len(), 2, "{text}");
    assert!(fails[0].contains("SEC-3"), "{text}");
    assert!(fails[1].contains("min_version \"1.0\""), "{text}");
    assert_eq!(text.lines().last(), Some("invalid"));
}

#[test]
fn servicedef_show_checks_the_name_against_the_file_name() {
    let dir = temp_dir();
    let path = put_v1(dir.path(), &valid_def("other"), "zccache");
    let output = cli()
        .args(["servicedef", "show", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert!(
        json["findings"][0]
            .as_str()
            .unwrap()
            .contains("does not match the requested service \"zccache\"")
    );
}

#[test]
fn servicedef_show_exits_1_for_undecodable_bytes_and_2_for_unreadable_files() {
    let dir = temp_dir();
    let path = put(dir.path(), "zccache", Generation::V1, &[0x0a, 0x09]);
    let output = cli()
        .args(["servicedef", "show"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout_of(&output).contains("not a valid v1 ServiceDefinition"));

    let missing = dir.path().join("absent.servicedef");
    let output = cli()
        .args(["servicedef", "show"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    let unnamed = dir.path().join("zccache.pb");
    fs::write(&unnamed, valid_def("zccache").encode_to_vec()).unwrap();
    let output = cli()
        .args(["servicedef", "show"])
        .arg(&unnamed)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
