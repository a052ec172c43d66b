//! Checking values against a case's expectations: protobuf fields by
//! dotted path (through the descriptors, so any message works), JSON bodies
//! by JSON pointer, and the matchers of `conformance/README.md`.

use std::collections::BTreeMap;
use std::fmt;

use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value};

use crate::inspect::{parse_hex, to_hex};

/// A value read from a reply, in a form matchers understand.
#[derive(Debug, Clone, PartialEq)]
pub enum Actual {
    /// Text.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Any integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An enum value: its name when known, and its number.
    Enum {
        /// The value's name.
        name: Option<String>,
        /// The number.
        number: i32,
    },
    /// A repeated field or JSON array.
    List(Vec<Actual>),
    /// A message or JSON object, shown as text.
    Message(String),
    /// Not set (a message field or oneof member without a value, JSON null or missing).
    Absent,
}

impl fmt::Display for Actual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Bytes(b) if b.is_empty() => f.write_str("empty bytes"),
            Self::Bytes(b) => write!(f, "bytes {} ({} bytes)", to_hex(b), b.len()),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Enum {
                name: Some(n),
                number,
            } => write!(f, "{n} ({number})"),
            Self::Enum { name: None, number } => write!(f, "{number} (not a known value)"),
            Self::List(items) => write!(
                f,
                "[{}]",
                items
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Message(text) => write!(f, "{{{text}}}"),
            Self::Absent => f.write_str("not set"),
        }
    }
}

fn map_key_text(key: &prost_reflect::MapKey) -> String {
    use prost_reflect::MapKey;
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(i) => i.to_string(),
        MapKey::I64(i) => i.to_string(),
        MapKey::U32(i) => i.to_string(),
        MapKey::U64(i) => i.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

fn map_value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => from_value(other, &Kind::Bool).to_string(),
    }
}

fn from_value(value: &Value, kind: &Kind) -> Actual {
    match value {
        Value::Bool(b) => Actual::Bool(*b),
        Value::I32(i) => Actual::Int(i128::from(*i)),
        Value::I64(i) => Actual::Int(i128::from(*i)),
        Value::U32(i) => Actual::Int(i128::from(*i)),
        Value::U64(i) => Actual::Int(i128::from(*i)),
        Value::F32(x) => Actual::Float(f64::from(*x)),
        Value::F64(x) => Actual::Float(*x),
        Value::String(s) => Actual::Str(s.clone()),
        Value::Bytes(b) => Actual::Bytes(b.to_vec()),
        Value::EnumNumber(n) => Actual::Enum {
            name: match kind {
                Kind::Enum(e) => e.get_value(*n).map(|v| v.name().to_owned()),
                _ => None,
            },
            number: *n,
        },
        Value::Message(m) => Actual::Message(m.to_text_format()),
        Value::List(items) => Actual::List(items.iter().map(|v| from_value(v, kind)).collect()),
        // A map reads as its `key=value` entries, in key order.
        Value::Map(entries) => {
            let mut items: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}={}", map_key_text(k), map_value_text(v)))
                .collect();
            items.sort();
            Actual::List(items.into_iter().map(Actual::Str).collect())
        }
    }
}

/// Reads a dotted path (`refused.code`, `warnings.0`) from a message.
pub fn resolve(message: &DynamicMessage, path: &str) -> Result<Actual, String> {
    let mut current = message.clone();
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let desc = current.descriptor();
        let field = desc
            .get_field_by_name(segment)
            .ok_or_else(|| format!("{} has no field {segment:?}", desc.full_name()))?;
        let is_message =
            matches!(field.kind(), Kind::Message(_)) && !field.is_list() && !field.is_map();
        if (is_message || field.containing_oneof().is_some()) && !current.has_field(&field) {
            if last {
                return Ok(Actual::Absent);
            }
            return Err(format!("{} is not set", segments[..=i].join(".")));
        }
        let value = current.get_field(&field).into_owned();
        if last {
            return Ok(from_value(&value, &field.kind()));
        }
        match (
            value,
            segments.get(i + 1).and_then(|s| s.parse::<usize>().ok()),
        ) {
            (Value::Message(m), _) => current = m,
            (Value::List(items), Some(index)) if i + 2 == segments.len() => {
                return Ok(items
                    .get(index)
                    .map_or(Actual::Absent, |v| from_value(v, &field.kind())));
            }
            _ => return Err(format!("{} is not a message", segments[..=i].join("."))),
        }
    }
    Ok(Actual::Message(current.to_text_format()))
}

/// Reads a JSON pointer (`/schema_version`) from a JSON body.
pub fn resolve_json(body: &serde_json::Value, pointer: &str) -> Actual {
    body.pointer(pointer).map_or(Actual::Absent, from_json)
}

fn from_json(value: &serde_json::Value) -> Actual {
    match value {
        serde_json::Value::Null => Actual::Absent,
        serde_json::Value::Bool(b) => Actual::Bool(*b),
        serde_json::Value::Number(n) => match n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
        {
            Some(i) => Actual::Int(i),
            None => Actual::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Actual::Str(s.clone()),
        serde_json::Value::Array(items) => Actual::List(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Actual::Message(format!("{} keys", map.len())),
    }
}

/// How one expectation came out.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Met.
    Met,
    /// Not met; why.
    Failed(String),
    /// A `ref` expectation not met: binding only on the reference broker.
    RefOnly(String),
}

/// Matching context: values captured by earlier steps.
#[derive(Debug, Clone, Default)]
pub struct Captures(pub BTreeMap<String, Actual>);

fn literal_equals(actual: &Actual, expected: &toml::Value) -> Result<bool, String> {
    Ok(match (actual, expected) {
        (Actual::Enum { name, .. }, toml::Value::String(s)) => name.as_deref() == Some(s.as_str()),
        (Actual::Enum { number, .. }, toml::Value::Integer(i)) => i64::from(*number) == *i,
        (Actual::Str(a), toml::Value::String(s)) => a == s,
        (Actual::Bytes(a), toml::Value::String(s)) => a.as_slice() == s.as_bytes(),
        (Actual::Int(a), toml::Value::Integer(i)) => *a == i128::from(*i),
        (Actual::Int(a), toml::Value::String(s)) => parse_int(s).is_some_and(|v| v == *a),
        (Actual::Float(a), toml::Value::Float(f)) => a == f,
        (Actual::Float(a), toml::Value::Integer(i)) => *a == *i as f64,
        (Actual::Bool(a), toml::Value::Boolean(b)) => a == b,
        (Actual::List(items), toml::Value::Array(expected)) => {
            items.len() == expected.len()
                && items
                    .iter()
                    .zip(expected)
                    .map(|(a, e)| literal_equals(a, e))
                    .collect::<Result<Vec<bool>, String>>()?
                    .into_iter()
                    .all(|b| b)
        }
        (Actual::Absent, _) => false,
        (a, e) => return Err(format!("cannot compare {a} with {e}")),
    })
}

fn parse_int(s: &str) -> Option<i128> {
    match s.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn as_number(actual: &Actual) -> Option<f64> {
    match actual {
        Actual::Int(i) => Some(*i as f64),
        Actual::Float(f) => Some(*f),
        Actual::Enum { number, .. } => Some(f64::from(*number)),
        _ => None,
    }
}

fn as_u128(actual: &Actual) -> Option<u128> {
    match actual {
        Actual::Int(i) => u128::try_from(*i).ok(),
        _ => None,
    }
}

fn length(actual: &Actual) -> Option<usize> {
    match actual {
        Actual::Str(s) => Some(s.len()),
        Actual::Bytes(b) => Some(b.len()),
        Actual::List(l) => Some(l.len()),
        Actual::Absent => Some(0),
        _ => None,
    }
}

fn number(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        toml::Value::String(s) => parse_int(s).map(|i| i as f64),
        _ => None,
    }
}

/// Checks `actual` against `expected` (a literal or a one-matcher table).
pub fn check(actual: &Actual, expected: &toml::Value, captures: &Captures) -> Outcome {
    let fail = |why: String| Outcome::Failed(why);
    let toml::Value::Table(table) = expected else {
        return match literal_equals(actual, expected) {
            Ok(true) => Outcome::Met,
            Ok(false) => fail(format!("expected {}, got {actual}", show(expected))),
            Err(e) => fail(e),
        };
    };
    let (min, max) = (table.get("min"), table.get("max"));
    if min.is_some() || max.is_some() {
        let Some(value) = as_number(actual) else {
            return fail(format!("expected a number, got {actual}"));
        };
        let low = min.and_then(number).unwrap_or(f64::NEG_INFINITY);
        let high = max.and_then(number).unwrap_or(f64::INFINITY);
        return if (low..=high).contains(&value) {
            Outcome::Met
        } else {
            fail(format!(
                "expected {}..={}, got {actual}",
                show_opt(min),
                show_opt(max)
            ))
        };
    }
    let Some((key, arg)) = table.iter().next().filter(|_| table.len() == 1) else {
        return fail(format!(
            "a matcher table needs exactly one key: {}",
            show(expected)
        ));
    };
    match key.as_str() {
        "any" => Outcome::Met,
        "absent" if matches!(actual, Actual::Absent) => Outcome::Met,
        "absent" => fail(format!("expected it not set, got {actual}")),
        "non_empty" if length(actual).is_some_and(|n| n > 0) => Outcome::Met,
        "non_empty" => fail(format!("expected something non-empty, got {actual}")),
        "empty" if length(actual) == Some(0) => Outcome::Met,
        "empty" => fail(format!("expected it empty, got {actual}")),
        "len" => match (length(actual), arg.as_integer()) {
            (Some(n), Some(want)) if n as i64 == want => Outcome::Met,
            (n, _) => fail(format!(
                "expected length {}, got {} ({actual})",
                show(arg),
                n.map_or("none".into(), |n| n.to_string())
            )),
        },
        "one_of" => match arg.as_array() {
            Some(options)
                if options
                    .iter()
                    .any(|o| literal_equals(actual, o).unwrap_or(false)) =>
            {
                Outcome::Met
            }
            _ => fail(format!("expected one of {}, got {actual}", show(arg))),
        },
        "all" => match arg.as_array() {
            Some(each) => {
                for expected in each {
                    match check(actual, expected, captures) {
                        Outcome::Met => {}
                        other => return other,
                    }
                }
                Outcome::Met
            }
            None => fail(format!(
                "`all` takes a list of expectations, not {}",
                show(arg)
            )),
        },
        "lacks" => {
            let wanted = arg.as_str().unwrap_or_default();
            let holds = match actual {
                Actual::Str(s) => s.contains(wanted),
                Actual::Bytes(b) => String::from_utf8_lossy(b).contains(wanted),
                Actual::List(items) => items
                    .iter()
                    .any(|i| matches!(i, Actual::Str(s) if s.contains(wanted))),
                Actual::Message(text) => text.contains(wanted),
                _ => false,
            };
            if holds {
                fail(format!("expected no {}, got {actual}", show(arg)))
            } else {
                Outcome::Met
            }
        }
        "contains" | "starts_with" | "ends_with" => {
            let text = match actual {
                Actual::Str(s) => s.clone(),
                Actual::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                Actual::List(items) => {
                    let wanted = arg.as_str().unwrap_or_default();
                    return if items
                        .iter()
                        .any(|i| matches!(i, Actual::Str(s) if s == wanted))
                    {
                        Outcome::Met
                    } else {
                        fail(format!(
                            "expected a list holding {}, got {actual}",
                            show(arg)
                        ))
                    };
                }
                other => return fail(format!("expected text, got {other}")),
            };
            let wanted = arg.as_str().unwrap_or_default();
            let ok = match key.as_str() {
                "contains" => text.contains(wanted),
                "starts_with" => text.starts_with(wanted),
                _ => text.ends_with(wanted),
            };
            if ok {
                Outcome::Met
            } else {
                fail(format!(
                    "expected text that {key} {}, got {actual}",
                    show(arg)
                ))
            }
        }
        "hex" => match (actual, arg.as_str().map(parse_hex)) {
            (Actual::Bytes(b), Some(Ok(want))) if *b == want => Outcome::Met,
            (_, Some(Ok(_))) => fail(format!("expected bytes {}, got {actual}", show(arg))),
            _ => fail(format!("bad hex in the expectation: {}", show(arg))),
        },
        "bits" | "no_bits" => {
            let mask = arg
                .as_integer()
                .map(|i| i as u128)
                .or_else(|| arg.as_str().and_then(parse_int).map(|i| i as u128));
            match (as_u128(actual), mask) {
                (Some(v), Some(m)) if key == "bits" && v & m == m => Outcome::Met,
                (Some(v), Some(m)) if key == "no_bits" && v & m == 0 => Outcome::Met,
                _ => fail(format!("expected {key} {}, got {actual}", show(arg))),
            }
        }
        "same_as" | "differs_from" => {
            let name = arg.as_str().unwrap_or_default();
            match captures.0.get(name) {
                None => fail(format!("nothing was captured as {name:?}")),
                Some(captured) if (captured == actual) == (key == "same_as") => Outcome::Met,
                Some(captured) => fail(format!(
                    "expected {} {name} ({captured}), got {actual}",
                    key.replace('_', " ")
                )),
            }
        }
        "ref" => match check(actual, arg, captures) {
            Outcome::Met => Outcome::Met,
            Outcome::Failed(why) | Outcome::RefOnly(why) => Outcome::RefOnly(why),
        },
        other => fail(format!("unknown matcher {other:?}")),
    }
}

fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn show_opt(v: Option<&toml::Value>) -> String {
    v.map_or_else(String::new, show)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::descriptor_pool;

    fn refused() -> DynamicMessage {
        let desc = descriptor_pool()
            .get_message_by_name("running_process.broker.v1.HelloReply")
            .unwrap_or_else(|| panic!("descriptor"));
        DynamicMessage::parse_text_format(
            desc,
            r#"refused { reason: "x" code: ERROR_PEER_REJECTED daemon_min_protocol: 1 }"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn t(s: &str) -> toml::Value {
        toml::from_str::<toml::Table>(&format!("v = {s}"))
            .map(|t| t["v"].clone())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn maps_read_as_sorted_entries_and_lacks_looks_into_them() {
        let desc = descriptor_pool()
            .get_message_by_name("running_process.broker.v1.HelloReply")
            .unwrap_or_else(|| panic!("descriptor"));
        let m = DynamicMessage::parse_text_format(
            desc,
            r#"refused { reason: "no" details { key: "z" value: "secret-1" } details { key: "a" value: "b" } }"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let details = resolve(&m, "refused.details").unwrap_or(Actual::Absent);
        assert_eq!(
            details,
            Actual::List(vec![
                Actual::Str("a=b".into()),
                Actual::Str("z=secret-1".into())
            ])
        );
        let none = Captures::default();
        assert_eq!(check(&details, &t("{ len = 2 }"), &none), Outcome::Met);
        assert!(matches!(
            check(&details, &t(r#"{ lacks = "secret" }"#), &none),
            Outcome::Failed(_)
        ));
        assert_eq!(
            check(&details, &t(r#"{ lacks = "token" }"#), &none),
            Outcome::Met
        );
        let reason = resolve(&m, "refused.reason").unwrap_or(Actual::Absent);
        assert!(matches!(
            check(&reason, &t(r#"{ lacks = "no" }"#), &none),
            Outcome::Failed(_)
        ));
        assert_eq!(
            check(&Actual::Absent, &t(r#"{ lacks = "x" }"#), &none),
            Outcome::Met
        );
    }

    #[test]
    fn paths_reach_oneof_members_and_report_unset_ones() {
        let m = refused();
        let code = resolve(&m, "refused.code").unwrap_or(Actual::Absent);
        assert_eq!(
            check(&code, &t("\"ERROR_PEER_REJECTED\""), &Captures::default()),
            Outcome::Met
        );
        assert_eq!(resolve(&m, "negotiated"), Ok(Actual::Absent));
        assert!(resolve(&m, "negotiated.backend_pipe").is_err_and(|e| e.contains("not set")));
        assert!(resolve(&m, "refused.nope").is_err());
        assert_eq!(
            resolve(&m, "refused.retry_after_ms"),
            Ok(Actual::Int(0)),
            "defaults read as values"
        );
    }

    #[test]
    fn matchers_behave_as_documented() {
        let c = Captures(BTreeMap::from([("x".into(), Actual::Int(5))]));
        let yes = |a: Actual, e: &str| assert_eq!(check(&a, &t(e), &c), Outcome::Met, "{e}");
        let no =
            |a: Actual, e: &str| assert!(matches!(check(&a, &t(e), &c), Outcome::Failed(_)), "{e}");
        yes(Actual::Int(1000), "{ min = 1, max = 30000 }");
        no(Actual::Int(0), "{ min = 1 }");
        yes(Actual::Bytes(vec![1; 16]), "{ len = 16 }");
        yes(Actual::Str("ab".into()), "{ one_of = [\"x\", \"ab\"] }");
        yes(Actual::Int(5), "{ same_as = \"x\" }");
        no(Actual::Int(5), "{ differs_from = \"x\" }");
        yes(Actual::Int(0b101), "{ bits = 1 }");
        no(Actual::Int(0b101), "{ no_bits = 4 }");
        yes(
            Actual::Int(i128::from(u64::MAX)),
            "\"18446744073709551615\"",
        );
        yes(Actual::Bytes(vec![0xab]), "{ hex = \"ab\" }");
        yes(
            Actual::Str("service definition could not be loaded: x".into()),
            "{ starts_with = \"service definition\" }",
        );
        yes(Actual::Absent, "{ absent = true }");
        yes(
            Actual::Str("a\n# EOF\n".into()),
            "{ ends_with = \"# EOF\\n\" }",
        );
        yes(
            Actual::Str("abc".into()),
            "{ all = [{ starts_with = \"a\" }, { ends_with = \"c\" }] }",
        );
        no(
            Actual::Str("abc".into()),
            "{ all = [{ starts_with = \"a\" }, { ends_with = \"b\" }] }",
        );
        no(Actual::Absent, "\"x\"");
        assert!(matches!(
            check(&Actual::Str("a".into()), &t("{ ref = \"b\" }"), &c),
            Outcome::RefOnly(_)
        ));
    }
}
