//! Expectations on one value: a literal that must be equal, or a table
//! holding one matcher (`conformance/README.md`, "Checking replies").
//! Parsed once, when the suite loads: a wrong matcher name or argument is
//! a load error, never a run-time surprise.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::inspect::parse_hex;

/// The matcher names a table may hold (`min`/`max` go together).
pub(crate) const MATCHER_NAMES: [&str; 18] = [
    "any",
    "non_empty",
    "empty",
    "absent",
    "len",
    "one_of",
    "min",
    "max",
    "contains",
    "starts_with",
    "ends_with",
    "lacks",
    "all",
    "hex",
    "bits",
    "no_bits",
    "same_as",
    "differs_from",
];

/// A literal value: equal to the actual value (enums compare by name or
/// number; a string of digits or `0x…` equals that integer).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Literal {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text (or an enum value's name, or a big integer as digits).
    Str(String),
    /// A list, item by item.
    List(Vec<Literal>),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x:?}"),
            Self::Str(s) => write!(f, "{s:?}"),
            Self::List(items) => write!(f, "[{}]", joined(items)),
        }
    }
}

fn joined<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bound of `{ min, max }`: an integer or a float.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Number {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl Number {
    /// The value as a float, for comparing.
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(x) => x,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// Bytes written as hex in the case file (white space ignored).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HexBytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_hex(&text)
            .map(Self)
            .map_err(|e| de::Error::custom(format!("hex {text:?} does not parse: {e}")))
    }
}

impl JsonSchema for HexBytes {
    fn schema_name() -> Cow<'static, str> {
        "HexBytes".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Bytes in hex; white space is ignored.",
            "pattern": "^[0-9a-fA-F\\s]*$"
        })
    }
}

impl fmt::Display for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::inspect::to_hex(&self.0))
    }
}

/// One expectation on a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// A literal: equal.
    Equals(Literal),
    /// `{ any = true }`: anything.
    Any,
    /// `{ non_empty = true }`: a non-empty string, bytes or list.
    NonEmpty,
    /// `{ empty = true }`: an empty (or unset) string, bytes or list.
    Empty,
    /// `{ absent = true }`: not set.
    Absent,
    /// `{ len = N }`: N bytes or elements.
    Len(u64),
    /// `{ one_of = [...] }`: equals one of them.
    OneOf(Vec<Literal>),
    /// `{ min = A, max = B }`: a number in the range (either bound optional).
    Range {
        /// The lowest allowed value.
        min: Option<Number>,
        /// The highest allowed value.
        max: Option<Number>,
    },
    /// `{ contains = "..." }`: holds the text (for a list: an item equals it).
    Contains(String),
    /// `{ starts_with = "..." }`.
    StartsWith(String),
    /// `{ ends_with = "..." }`.
    EndsWith(String),
    /// `{ lacks = "..." }`: does not hold the text (for a list or map: no item does).
    Lacks(String),
    /// `{ all = [...] }`: meets every expectation.
    All(Vec<Matcher>),
    /// `{ hex = "..." }`: these bytes.
    Hex(HexBytes),
    /// `{ bits = N }`: all bits of N set.
    Bits(u64),
    /// `{ no_bits = N }`: none of the bits of N set.
    NoBits(u64),
    /// `{ same_as = "NAME" }`: equals a captured value.
    SameAs(String),
    /// `{ differs_from = "NAME" }`: differs from a captured value.
    DiffersFrom(String),
}

impl Matcher {
    /// The captured names this expectation reads, with the matcher that
    /// reads each (`same_as`, `differs_from`).
    pub fn captures_read(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::SameAs(name) => vec![("same_as", name.as_str())],
            Self::DiffersFrom(name) => vec![("differs_from", name.as_str())],
            Self::All(each) => each.iter().flat_map(Self::captures_read).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Equals(literal) => write!(f, "{literal}"),
            Self::Any => f.write_str("{ any = true }"),
            Self::NonEmpty => f.write_str("{ non_empty = true }"),
            Self::Empty => f.write_str("{ empty = true }"),
            Self::Absent => f.write_str("{ absent = true }"),
            Self::Len(n) => write!(f, "{{ len = {n} }}"),
            Self::OneOf(options) => write!(f, "{{ one_of = [{}] }}", joined(options)),
            Self::Range { min, max } => {
                let bound = |b: &Option<Number>| b.map(|n| n.to_string()).unwrap_or_default();
                write!(f, "{}..={}", bound(min), bound(max))
            }
            Self::Contains(s) => write!(f, "{{ contains = {s:?} }}"),
            Self::StartsWith(s) => write!(f, "{{ starts_with = {s:?} }}"),
            Self::EndsWith(s) => write!(f, "{{ ends_with = {s:?} }}"),
            Self::Lacks(s) => write!(f, "{{ lacks = {s:?} }}"),
            Self::All(each) => write!(f, "{{ all = [{}] }}", joined(each)),
            Self::Hex(bytes) => write!(f, "{{ hex = {:?} }}", bytes.to_string()),
            Self::Bits(n) => write!(f, "{{ bits = {n} }}"),
            Self::NoBits(n) => write!(f, "{{ no_bits = {n} }}"),
            Self::SameAs(s) => write!(f, "{{ same_as = {s:?} }}"),
            Self::DiffersFrom(s) => write!(f, "{{ differs_from = {s:?} }}"),
        }
    }
}

/// `true`, the only argument of the flag matchers.
struct True;

impl<'de> Deserialize<'de> for True {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if bool::deserialize(deserializer)? {
            Ok(Self)
        } else {
            Err(de::Error::custom("a flag matcher takes `true`"))
        }
    }
}

struct MatcherVisitor;

impl<'de> Visitor<'de> for MatcherVisitor {
    type Value = Matcher;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a literal or a table with one matcher")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Matcher, E> {
        Ok(Matcher::Equals(Literal::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Matcher, E> {
        Ok(Matcher::Equals(Literal::Int(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Matcher, E> {
        i64::try_from(v)
            .map(|i| Matcher::Equals(Literal::Int(i)))
            .map_err(|_| E::custom(format!("{v} is too big: write it as a string")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Matcher, E> {
        Ok(Matcher::Equals(Literal::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Matcher, E> {
        Ok(Matcher::Equals(Literal::Str(v.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Matcher, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Literal>()? {
            items.push(item);
        }
        Ok(Matcher::Equals(Literal::List(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Matcher, A::Error> {
        let Some(name) = map.next_key::<String>()? else {
            return Err(de::Error::custom("an empty table is no matcher"));
        };
        let matcher = match name.as_str() {
            "min" | "max" => return range(name, map),
            "any" => map.next_value::<True>().map(|_| Matcher::Any)?,
            "non_empty" => map.next_value::<True>().map(|_| Matcher::NonEmpty)?,
            "empty" => map.next_value::<True>().map(|_| Matcher::Empty)?,
            "absent" => map.next_value::<True>().map(|_| Matcher::Absent)?,
            "len" => Matcher::Len(map.next_value()?),
            "one_of" => Matcher::OneOf(non_empty("one_of", map.next_value()?)?),
            "contains" => Matcher::Contains(map.next_value()?),
            "starts_with" => Matcher::StartsWith(map.next_value()?),
            "ends_with" => Matcher::EndsWith(map.next_value()?),
            "lacks" => Matcher::Lacks(map.next_value()?),
            "all" => Matcher::All(non_empty("all", map.next_value()?)?),
            "hex" => Matcher::Hex(map.next_value()?),
            "bits" => Matcher::Bits(map.next_value()?),
            "no_bits" => Matcher::NoBits(map.next_value()?),
            "same_as" => Matcher::SameAs(map.next_value()?),
            "differs_from" => Matcher::DiffersFrom(map.next_value()?),
            "ref" => {
                return Err(de::Error::custom(
                    "`ref` is no matcher: REF-only checks go under their own key \
                     (`ref_fields`, `ref_json`, `ref_frame`, `ref_offers`)",
                ));
            }
            other => {
                return Err(de::Error::custom(format!(
                    "unknown matcher {other:?} (known: {})",
                    MATCHER_NAMES.join(", ")
                )));
            }
        };
        match map.next_key::<String>()? {
            None => Ok(matcher),
            Some(extra) => Err(de::Error::custom(format!(
                "a matcher table holds exactly one matcher, not {name}, {extra}"
            ))),
        }
    }
}

/// `items`, unless the list is empty (a matcher `name` needs at least one).
fn non_empty<T, E: de::Error>(name: &str, items: Vec<T>) -> Result<Vec<T>, E> {
    if items.is_empty() {
        Err(E::custom(format!("{name} takes a non-empty list")))
    } else {
        Ok(items)
    }
}

/// The rest of a `{ min, max }` table whose first key was `first`.
fn range<'de, A: MapAccess<'de>>(first: String, mut map: A) -> Result<Matcher, A::Error> {
    let (mut min, mut max) = (None, None);
    let mut key = Some(first);
    while let Some(name) = key {
        let bound: Number = map.next_value()?;
        let slot = match name.as_str() {
            "min" => &mut min,
            "max" => &mut max,
            other => {
                return Err(de::Error::custom(format!(
                    "a range holds only min and max, not {other}"
                )));
            }
        };
        if slot.replace(bound).is_some() {
            return Err(de::Error::custom(format!("{name} given twice")));
        }
        key = map.next_key::<String>()?;
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo.as_f64() > hi.as_f64()
    {
        return Err(de::Error::custom(format!("min {lo} is above max {hi}")));
    }
    Ok(Matcher::Range { min, max })
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MatcherVisitor)
    }
}

impl JsonSchema for Matcher {
    fn schema_name() -> Cow<'static, str> {
        "Matcher".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let literal = generator.subschema_for::<Literal>();
        let number = generator.subschema_for::<Number>();
        let hex = generator.subschema_for::<HexBytes>();
        let matcher = generator.subschema_for::<Matcher>();
        let one = |name: &str, arg: Schema| {
            json_schema!({
                "type": "object",
                "properties": { name: arg },
                "required": [name],
                "additionalProperties": false
            })
        };
        let flag = json_schema!({ "const": true });
        let text = json_schema!({ "type": "string" });
        let count = json_schema!({ "type": "integer", "minimum": 0 });
        json_schema!({
            "description": "A literal (equal), or a table holding one matcher.",
            "anyOf": [
                literal,
                one("any", flag.clone()),
                one("non_empty", flag.clone()),
                one("empty", flag.clone()),
                one("absent", flag),
                one("len", count.clone()),
                one("one_of", json_schema!({ "type": "array", "items": literal, "minItems": 1 })),
                {
                    "type": "object",
                    "properties": { "min": number, "max": number },
                    "minProperties": 1,
                    "additionalProperties": false
                },
                one("contains", text.clone()),
                one("starts_with", text.clone()),
                one("ends_with", text.clone()),
                one("lacks", text.clone()),
                one("all", json_schema!({ "type": "array", "items": matcher, "minItems": 1 })),
                one("hex", hex),
                one("bits", count.clone()),
                one("no_bits", count),
                one("same_as", text.clone()),
                one("differs_from", text)
            ]
        })
    }
}

/// Checks by path or pointer: path → expectation.
pub(crate) type Checks = std::collections::BTreeMap<String, Matcher>;

/// A file mode, written as an octal string (`"0750"`, `"600"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Self)
            .ok_or_else(|| de::Error::custom(format!("{text:?} is not an octal mode")))
    }
}

impl JsonSchema for FileMode {
    fn schema_name() -> Cow<'static, str> {
        "FileMode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An octal file mode, e.g. \"0750\".",
            "pattern": "^(0o)?[0-7]{1,4}$"
        })
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:o}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Matcher, String> {
        #[derive(Deserialize)]
        struct Doc {
            v: Matcher,
        }
        toml::from_str::<Doc>(&format!("v = {value}"))
            .map(|d| d.v)
            .map_err(|e| e.message().to_owned())
    }

    #[test]
    fn every_matcher_parses_into_its_variant() {
        let n = |i| Some(Number::Int(i));
        for (text, want) in [
            (
                "\"ERROR_X\"",
                Matcher::Equals(Literal::Str("ERROR_X".into())),
            ),
            ("0", Matcher::Equals(Literal::Int(0))),
            (
                "[1, true]",
                Matcher::Equals(Literal::List(vec![Literal::Int(1), Literal::Bool(true)])),
            ),
            ("{ any = true }", Matcher::Any),
            ("{ non_empty = true }", Matcher::NonEmpty),
            ("{ empty = true }", Matcher::Empty),
            ("{ absent = true }", Matcher::Absent),
            ("{ len = 3 }", Matcher::Len(3)),
            (
                "{ one_of = [1, \"a\"] }",
                Matcher::OneOf(vec![Literal::Int(1), Literal::Str("a".into())]),
            ),
            (
                "{ min = 1, max = 2.5 }",
                Matcher::Range {
                    min: n(1),
                    max: Some(Number::Float(2.5)),
                },
            ),
            (
                "{ max = 7 }",
                Matcher::Range {
                    min: None,
                    max: n(7),
                },
            ),
            ("{ contains = \"x\" }", Matcher::Contains("x".into())),
            ("{ starts_with = \"x\" }", Matcher::StartsWith("x".into())),
            ("{ ends_with = \"x\" }", Matcher::EndsWith("x".into())),
            ("{ lacks = \"x\" }", Matcher::Lacks("x".into())),
            (
                "{ all = [{ len = 1 }, \"a\"] }",
                Matcher::All(vec![
                    Matcher::Len(1),
                    Matcher::Equals(Literal::Str("a".into())),
                ]),
            ),
            ("{ hex = \"01 0a\" }", Matcher::Hex(HexBytes(vec![1, 10]))),
            ("{ bits = 1 }", Matcher::Bits(1)),
            ("{ no_bits = 4 }", Matcher::NoBits(4)),
            ("{ same_as = \"token\" }", Matcher::SameAs("token".into())),
            (
                "{ differs_from = \"token\" }",
                Matcher::DiffersFrom("token".into()),
            ),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_matchers_are_load_errors_that_say_why() {
        for (bad, expected) in [
            ("{}", "an empty table is no matcher"),
            (
                "{ contains = \"a\", len = 1 }",
                "exactly one matcher, not contains, len",
            ),
            ("{ equals = 1 }", "unknown matcher \"equals\""),
            ("{ any = false }", "takes `true`"),
            ("{ len = -1 }", "invalid value"),
            ("{ one_of = [] }", "one_of takes a non-empty list"),
            ("{ all = [] }", "all takes a non-empty list"),
            ("{ contains = 1 }", "invalid type"),
            ("{ hex = \"0g\" }", "does not parse"),
            ("{ min = \"a\" }", "did not match any variant"),
            ("{ min = 3, max = 1 }", "min 3 is above max 1"),
            ("{ min = 1, len = 1 }", "exactly one matcher, not len, min"),
            ("{ max = 1, min = 1, x = 1 }", "only min and max, not x"),
            ("{ ref = \"x\" }", "REF-only checks go under their own key"),
            ("{ all = [{ nope = 1 }] }", "unknown matcher \"nope\""),
        ] {
            match parse(bad) {
                Err(message) => assert!(message.contains(expected), "{bad}: {message}"),
                Ok(m) => panic!("{bad} parsed as {m:?}"),
            }
        }
    }

    #[test]
    fn display_reads_like_the_case_file() {
        for text in ["{ len = 3 }", "{ starts_with = \"a\" }", "\"x\"", "[1, 2]"] {
            let shown = parse(text).unwrap_or_else(|e| panic!("{e}")).to_string();
            assert_eq!(shown, text);
        }
    }
}
