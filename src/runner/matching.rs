//! Checking values against a case's expectations: protobuf fields by
//! dotted path (through the descriptors, so any message works), JSON bodies
//! by JSON pointer, and the matchers of `conformance/README.md`.

use std::collections::BTreeMap;
use std::fmt;

use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value};

use super::model::{Literal, Matcher};
use crate::inspect::to_hex;

/// A value read from a reply, in a form matchers understand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Actual {
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
pub(crate) fn resolve(message: &DynamicMessage, path: &str) -> Result<Actual, String> {
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
pub(crate) fn resolve_json(body: &serde_json::Value, pointer: &str) -> Actual {
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

/// Values captured by earlier steps, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Captures(BTreeMap<String, Actual>);

impl Captures {
    /// The value captured as `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Actual> {
        self.0.get(name)
    }

    /// Remembers `value` as `name`, replacing an earlier one.
    pub(crate) fn insert(&mut self, name: impl Into<String>, value: Actual) {
        self.0.insert(name.into(), value);
    }

    /// Takes over every value of `other`.
    pub(crate) fn extend(&mut self, other: Captures) {
        self.0.extend(other.0);
    }
}

impl<K: Into<String>> FromIterator<(K, Actual)> for Captures {
    fn from_iter<I: IntoIterator<Item = (K, Actual)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

fn literal_equals(actual: &Actual, expected: &Literal) -> Result<bool, String> {
    Ok(match (actual, expected) {
        (Actual::Enum { name, .. }, Literal::Str(s)) => name.as_deref() == Some(s.as_str()),
        (Actual::Enum { number, .. }, Literal::Int(i)) => i64::from(*number) == *i,
        (Actual::Str(a), Literal::Str(s)) => a == s,
        (Actual::Bytes(a), Literal::Str(s)) => a.as_slice() == s.as_bytes(),
        (Actual::Int(a), Literal::Int(i)) => *a == i128::from(*i),
        (Actual::Int(a), Literal::Str(s)) => parse_int(s).is_some_and(|v| v == *a),
        (Actual::Float(a), Literal::Float(f)) => a == f,
        (Actual::Float(a), Literal::Int(i)) => *a == *i as f64,
        (Actual::Bool(a), Literal::Bool(b)) => a == b,
        (Actual::List(items), Literal::List(expected)) => {
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

/// Text a string matcher looks into: a string, or bytes read as UTF-8.
fn text_of(actual: &Actual) -> Option<std::borrow::Cow<'_, str>> {
    match actual {
        Actual::Str(s) => Some(s.as_str().into()),
        Actual::Bytes(b) => Some(String::from_utf8_lossy(b)),
        _ => None,
    }
}

/// Checks `actual` against one expectation; `Err` says why it is not met.
pub(crate) fn check(
    actual: &Actual,
    expected: &Matcher,
    captures: &Captures,
) -> Result<(), String> {
    let met = |ok: bool, why: &dyn Fn() -> String| if ok { Ok(()) } else { Err(why()) };
    match expected {
        Matcher::Equals(literal) => match literal_equals(actual, literal) {
            Ok(ok) => met(ok, &|| format!("expected {literal}, got {actual}")),
            Err(e) => Err(e),
        },
        Matcher::Any => Ok(()),
        Matcher::Absent => met(matches!(actual, Actual::Absent), &|| {
            format!("expected it not set, got {actual}")
        }),
        Matcher::NonEmpty => met(length(actual).is_some_and(|n| n > 0), &|| {
            format!("expected something non-empty, got {actual}")
        }),
        Matcher::Empty => met(length(actual) == Some(0), &|| {
            format!("expected it empty, got {actual}")
        }),
        Matcher::Len(want) => {
            let n = length(actual);
            met(n.is_some_and(|n| n as u64 == *want), &|| {
                format!(
                    "expected length {want}, got {} ({actual})",
                    n.map_or("none".into(), |n| n.to_string())
                )
            })
        }
        Matcher::OneOf(options) => met(
            options
                .iter()
                .any(|o| literal_equals(actual, o).unwrap_or(false)),
            &|| format!("expected {expected}, got {actual}"),
        ),
        Matcher::Range { min, max } => {
            let Some(value) = as_number(actual) else {
                return Err(format!("expected a number, got {actual}"));
            };
            let low = min.map_or(f64::NEG_INFINITY, |n| n.as_f64());
            let high = max.map_or(f64::INFINITY, |n| n.as_f64());
            met((low..=high).contains(&value), &|| {
                format!("expected {expected}, got {actual}")
            })
        }
        Matcher::All(each) => each.iter().try_for_each(|e| check(actual, e, captures)),
        Matcher::Lacks(wanted) => {
            let holds = match actual {
                Actual::List(items) => items
                    .iter()
                    .any(|i| matches!(i, Actual::Str(s) if s.contains(wanted.as_str()))),
                Actual::Message(text) => text.contains(wanted.as_str()),
                other => text_of(other).is_some_and(|t| t.contains(wanted.as_str())),
            };
            met(!holds, &|| format!("expected no {wanted:?}, got {actual}"))
        }
        Matcher::Contains(wanted) | Matcher::StartsWith(wanted) | Matcher::EndsWith(wanted) => {
            if let Actual::List(items) = actual {
                let holds = items
                    .iter()
                    .any(|i| matches!(i, Actual::Str(s) if s == wanted));
                return met(holds, &|| {
                    format!("expected a list holding {wanted:?}, got {actual}")
                });
            }
            let Some(text) = text_of(actual) else {
                return Err(format!("expected text, got {actual}"));
            };
            let (ok, verb) = match expected {
                Matcher::Contains(_) => (text.contains(wanted.as_str()), "contains"),
                Matcher::StartsWith(_) => (text.starts_with(wanted.as_str()), "starts_with"),
                _ => (text.ends_with(wanted.as_str()), "ends_with"),
            };
            met(ok, &|| {
                format!("expected text that {verb} {wanted:?}, got {actual}")
            })
        }
        Matcher::Hex(want) => met(matches!(actual, Actual::Bytes(b) if *b == want.0), &|| {
            format!("expected bytes {want}, got {actual}")
        }),
        Matcher::Bits(mask) | Matcher::NoBits(mask) => {
            let mask = u128::from(*mask);
            let ok = as_u128(actual).is_some_and(|v| match expected {
                Matcher::Bits(_) => v & mask == mask,
                _ => v & mask == 0,
            });
            met(ok, &|| format!("expected {expected}, got {actual}"))
        }
        Matcher::SameAs(name) | Matcher::DiffersFrom(name) => {
            let same = matches!(expected, Matcher::SameAs(_));
            match captures.get(name) {
                None => Err(format!("nothing was captured as {name:?}")),
                Some(captured) => met((captured == actual) == same, &|| {
                    format!(
                        "expected {} {name} ({captured}), got {actual}",
                        if same { "same as" } else { "differs from" }
                    )
                }),
            }
        }
    }
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

    fn m(s: &str) -> Matcher {
        #[derive(serde::Deserialize)]
        struct Doc {
            v: Matcher,
        }
        toml::from_str::<Doc>(&format!("v = {s}"))
            .map(|d| d.v)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn captures() -> Captures {
        Captures::from_iter([("x", Actual::Int(5))])
    }

    /// `actual` meets `expected`.
    fn yes(actual: Actual, expected: &str) {
        assert_eq!(
            check(&actual, &m(expected), &captures()),
            Ok(()),
            "{expected}"
        );
    }

    /// `actual` misses `expected`, with this message.
    fn no(actual: Actual, expected: &str, message: &str) {
        assert_eq!(
            check(&actual, &m(expected), &captures()),
            Err(message.to_owned()),
            "{expected}"
        );
    }

    #[test]
    fn maps_read_as_sorted_entries_and_lacks_looks_into_them() {
        let desc = descriptor_pool()
            .get_message_by_name("running_process.broker.v1.HelloReply")
            .unwrap_or_else(|| panic!("descriptor"));
        let msg = DynamicMessage::parse_text_format(
            desc,
            r#"refused { reason: "no" details { key: "z" value: "secret-1" } details { key: "a" value: "b" } }"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let details = resolve(&msg, "refused.details").unwrap_or(Actual::Absent);
        assert_eq!(
            details,
            Actual::List(vec![
                Actual::Str("a=b".into()),
                Actual::Str("z=secret-1".into())
            ])
        );
        yes(details.clone(), "{ len = 2 }");
        no(
            details.clone(),
            r#"{ lacks = "secret" }"#,
            r#"expected no "secret", got ["a=b", "z=secret-1"]"#,
        );
        yes(details, r#"{ lacks = "token" }"#);
    }

    #[test]
    fn paths_reach_oneof_members_and_report_unset_ones() {
        let msg = refused();
        let code = resolve(&msg, "refused.code").unwrap_or(Actual::Absent);
        yes(code, "\"ERROR_PEER_REJECTED\"");
        assert_eq!(resolve(&msg, "negotiated"), Ok(Actual::Absent));
        assert!(resolve(&msg, "negotiated.backend_pipe").is_err_and(|e| e.contains("not set")));
        assert!(resolve(&msg, "refused.nope").is_err());
        assert_eq!(
            resolve(&msg, "refused.retry_after_ms"),
            Ok(Actual::Int(0)),
            "defaults read as values"
        );
    }

    #[test]
    fn literals_compare_by_kind() {
        let code = Actual::Enum {
            name: Some("ERROR_X".into()),
            number: 7,
        };
        yes(code.clone(), "\"ERROR_X\"");
        yes(code.clone(), "7");
        no(code, "\"ERROR_Y\"", "expected \"ERROR_Y\", got ERROR_X (7)");
        yes(
            Actual::Int(i128::from(u64::MAX)),
            "\"18446744073709551615\"",
        );
        yes(Actual::Int(0xad01), "\"0xad01\"");
        yes(Actual::Bytes(b"ok".to_vec()), "\"ok\"");
        yes(Actual::Float(2.0), "2");
        yes(Actual::List(vec![Actual::Int(1), Actual::Int(2)]), "[1, 2]");
        no(
            Actual::List(vec![Actual::Int(1)]),
            "[1, 2]",
            "expected [1, 2], got [1]",
        );
        no(Actual::Absent, "\"x\"", "expected \"x\", got not set");
        no(Actual::Bool(true), "1", "cannot compare true with 1");
    }

    #[test]
    fn any_meets_everything() {
        yes(Actual::Absent, "{ any = true }");
        yes(Actual::Int(3), "{ any = true }");
    }

    #[test]
    fn absent() {
        yes(Actual::Absent, "{ absent = true }");
        no(
            Actual::Int(0),
            "{ absent = true }",
            "expected it not set, got 0",
        );
    }

    #[test]
    fn non_empty_and_empty() {
        yes(Actual::Str("a".into()), "{ non_empty = true }");
        no(
            Actual::Bytes(vec![]),
            "{ non_empty = true }",
            "expected something non-empty, got empty bytes",
        );
        yes(Actual::Absent, "{ empty = true }");
        no(
            Actual::Str("a".into()),
            "{ empty = true }",
            "expected it empty, got \"a\"",
        );
    }

    #[test]
    fn len() {
        yes(Actual::Bytes(vec![1; 16]), "{ len = 16 }");
        no(
            Actual::Str("ab".into()),
            "{ len = 3 }",
            "expected length 3, got 2 (\"ab\")",
        );
        no(
            Actual::Bool(true),
            "{ len = 3 }",
            "expected length 3, got none (true)",
        );
    }

    #[test]
    fn one_of() {
        yes(Actual::Str("ab".into()), "{ one_of = [\"x\", \"ab\"] }");
        no(
            Actual::Int(3),
            "{ one_of = [1, 2] }",
            "expected { one_of = [1, 2] }, got 3",
        );
    }

    #[test]
    fn min_max() {
        yes(Actual::Int(1000), "{ min = 1, max = 30000 }");
        yes(Actual::Float(0.5), "{ min = 1e-12, max = 1.0 }");
        no(Actual::Int(0), "{ min = 1 }", "expected 1..=, got 0");
        no(
            Actual::Str("a".into()),
            "{ max = 1 }",
            "expected a number, got \"a\"",
        );
    }

    #[test]
    fn contains_starts_with_ends_with() {
        yes(Actual::Str("abc".into()), "{ contains = \"b\" }");
        yes(
            Actual::List(vec![Actual::Str("b".into())]),
            "{ contains = \"b\" }",
        );
        no(
            Actual::List(vec![Actual::Str("bc".into())]),
            "{ contains = \"b\" }",
            "expected a list holding \"b\", got [\"bc\"]",
        );
        no(
            Actual::Int(1),
            "{ contains = \"b\" }",
            "expected text, got 1",
        );
        yes(
            Actual::Str("service definition could not be loaded: x".into()),
            "{ starts_with = \"service definition\" }",
        );
        no(
            Actual::Str("abc".into()),
            "{ starts_with = \"b\" }",
            "expected text that starts_with \"b\", got \"abc\"",
        );
        yes(
            Actual::Str("a\n# EOF\n".into()),
            "{ ends_with = \"# EOF\\n\" }",
        );
        no(
            Actual::Str("abc".into()),
            "{ ends_with = \"b\" }",
            "expected text that ends_with \"b\", got \"abc\"",
        );
    }

    #[test]
    fn lacks() {
        yes(Actual::Absent, r#"{ lacks = "x" }"#);
        yes(Actual::Message("a: 1".into()), r#"{ lacks = "b" }"#);
        no(
            Actual::Str("no".into()),
            r#"{ lacks = "no" }"#,
            r#"expected no "no", got "no""#,
        );
    }

    #[test]
    fn all() {
        yes(
            Actual::Str("abc".into()),
            "{ all = [{ starts_with = \"a\" }, { ends_with = \"c\" }] }",
        );
        no(
            Actual::Str("abc".into()),
            "{ all = [{ starts_with = \"a\" }, { ends_with = \"b\" }] }",
            "expected text that ends_with \"b\", got \"abc\"",
        );
    }

    #[test]
    fn hex() {
        yes(Actual::Bytes(vec![0xab]), "{ hex = \"ab\" }");
        no(
            Actual::Bytes(vec![0xac]),
            "{ hex = \"ab\" }",
            "expected bytes ab, got bytes ac (1 bytes)",
        );
    }

    #[test]
    fn bits_and_no_bits() {
        yes(Actual::Int(0b101), "{ bits = 1 }");
        no(
            Actual::Int(0b100),
            "{ bits = 1 }",
            "expected { bits = 1 }, got 4",
        );
        yes(Actual::Int(0b101), "{ no_bits = 2 }");
        no(
            Actual::Int(0b101),
            "{ no_bits = 4 }",
            "expected { no_bits = 4 }, got 5",
        );
    }

    #[test]
    fn same_as_and_differs_from() {
        yes(Actual::Int(5), "{ same_as = \"x\" }");
        no(
            Actual::Int(6),
            "{ same_as = \"x\" }",
            "expected same as x (5), got 6",
        );
        yes(Actual::Int(6), "{ differs_from = \"x\" }");
        no(
            Actual::Int(5),
            "{ differs_from = \"x\" }",
            "expected differs from x (5), got 5",
        );
        no(
            Actual::Int(5),
            "{ same_as = \"y\" }",
            "nothing was captured as \"y\"",
        );
    }
}
