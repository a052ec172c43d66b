//! The content of a daemon identity file `daemon-<service>.json` (v2 spec
//! §7, V2P-1), built from the facts of the process it names, with a case's
//! edits (keys replaced or left out) for the invalid variants. Pure.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The facts of the process an identity file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFacts {
    /// Its pid.
    pub pid: u32,
    /// Its executable.
    pub exe_path: String,
    /// BLAKE3 of its executable.
    pub exe_hash: [u8; 32],
    /// The boot id it started under.
    pub boot_id: String,
    /// When it started.
    pub started_at_unix_ms: u64,
}

/// An identity-file edit that is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("identity file key {key}: {text:?} is not JSON: {reason}")]
pub struct IdentityEditError {
    /// The key.
    pub key: String,
    /// The replacement text.
    pub text: String,
    /// The parser's message.
    pub reason: String,
}

/// A valid identity file for `facts` publishing `pipe`, then `set`'s keys
/// replaced by their JSON text and `remove`'s keys left out.
pub fn identity_json(
    facts: &IdentityFacts,
    pipe: &str,
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<String, IdentityEditError> {
    let mut object: Map<String, Value> = Map::new();
    object.insert("pid".into(), json!(facts.pid));
    object.insert("exe_path".into(), json!(facts.exe_path));
    object.insert("exe_hash_algorithm".into(), json!("blake3"));
    object.insert("exe_hash".into(), json!(facts.exe_hash.to_vec()));
    object.insert("boot_id".into(), json!(facts.boot_id));
    object.insert(
        "ipc_endpoint".into(),
        json!({ "namespace_id": "", "path": pipe }),
    );
    object.insert("started_at_unix_ms".into(), json!(facts.started_at_unix_ms));
    object.insert("idle_timeout_secs".into(), Value::Null);
    for (key, text) in set {
        let value = serde_json::from_str(text).map_err(|e| IdentityEditError {
            key: key.clone(),
            text: text.clone(),
            reason: e.to_string(),
        })?;
        object.insert(key.clone(), value);
    }
    for key in remove {
        object.remove(key);
    }
    Ok(Value::Object(object).to_string())
}

/// `json` (one object) grown to exactly `len` bytes by an extra key,
/// `padding`, which V2P-1 says a reader ignores; `None` when it is already
/// too long for that.
pub fn pad_identity(json: &str, len: usize) -> Option<String> {
    const KEY: &str = r#","padding":""#;
    let body = json.strip_suffix('}')?;
    let filler = len.checked_sub(json.len() + KEY.len() + 1)?;
    Some(format!("{body}{KEY}{}\"}}", "x".repeat(filler)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> IdentityFacts {
        IdentityFacts {
            pid: 42,
            exe_path: "/bin/x".into(),
            exe_hash: [7; 32],
            boot_id: "b".into(),
            started_at_unix_ms: 5,
        }
    }

    #[test]
    fn padding_reaches_the_exact_length_and_keeps_the_keys() {
        let text = identity_json(&facts(), "/tmp/p.sock", &BTreeMap::new(), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let padded = pad_identity(&text, 4096).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(padded.len(), 4096);
        let value: Value = serde_json::from_str(&padded).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["pid"], 42);
        assert!(value["padding"].as_str().is_some_and(|p| p.len() > 3000));
        assert_eq!(pad_identity(&text, 10), None);
    }

    #[test]
    fn a_valid_file_has_every_required_key() {
        let text = identity_json(&facts(), "/tmp/p.sock", &BTreeMap::new(), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["pid"], 42);
        assert_eq!(value["exe_hash_algorithm"], "blake3");
        assert_eq!(value["exe_hash"].as_array().map(Vec::len), Some(32));
        assert_eq!(value["ipc_endpoint"]["path"], "/tmp/p.sock");
        assert_eq!(value["ipc_endpoint"]["namespace_id"], "");
        assert_eq!(value["started_at_unix_ms"], 5);
    }

    #[test]
    fn edits_replace_and_remove_keys() {
        let set = BTreeMap::from([("exe_hash_algorithm".to_owned(), "\"sha256\"".to_owned())]);
        let text = identity_json(&facts(), "/p", &set, &["pid".to_owned()])
            .unwrap_or_else(|e| panic!("{e}"));
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["exe_hash_algorithm"], "sha256");
        assert!(value.get("pid").is_none());
        let bad = BTreeMap::from([("pid".to_owned(), "nope".to_owned())]);
        assert!(identity_json(&facts(), "/p", &bad, &[]).is_err());
    }
}
