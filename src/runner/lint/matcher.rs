//! Checks on expected values: a literal, or a table holding one matcher
//! from the transcript format's table (`conformance/README.md`).

use std::collections::BTreeSet;

use toml::Value;

use crate::inspect::hex::parse_hex;

/// Matchers that take one key.
const SINGLE_KEY: &[&str] = &[
    "any",
    "non_empty",
    "empty",
    "len",
    "one_of",
    "contains",
    "starts_with",
    "ends_with",
    "lacks",
    "absent",
    "all",
    "hex",
    "bits",
    "no_bits",
    "same_as",
    "differs_from",
    "ref",
];

/// Problems with one expected value; `captures` are the names captured by
/// earlier steps.
pub(super) fn check_expected(value: &Value, captures: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    check(value, captures, &mut problems);
    problems
}

fn check(value: &Value, captures: &BTreeSet<String>, problems: &mut Vec<String>) {
    let Value::Table(table) = value else {
        return; // A literal: compared for equality.
    };
    let keys: Vec<&str> = table.keys().map(String::as_str).collect();
    if keys.is_empty() {
        problems.push("an empty table is no matcher".into());
        return;
    }
    if keys.iter().all(|k| *k == "min" || *k == "max") {
        range(table.get("min"), table.get("max"), problems);
        return;
    }
    let [key] = keys.as_slice() else {
        problems.push(format!(
            "a matcher table holds exactly one matcher, not {}",
            keys.join(", ")
        ));
        return;
    };
    if !SINGLE_KEY.contains(key) {
        problems.push(format!(
            "unknown matcher {key:?} (known: {}, min/max)",
            SINGLE_KEY.join(", ")
        ));
        return;
    }
    let Some(arg) = table.get(*key) else {
        return;
    };
    match *key {
        "any" | "non_empty" | "empty" | "absent" => {
            if arg.as_bool() != Some(true) {
                problems.push(format!("{key} takes `true`"));
            }
        }
        "len" | "bits" | "no_bits" => {
            if arg.as_integer().is_none_or(|n| n < 0) {
                problems.push(format!("{key} takes a non-negative integer"));
            }
        }
        "one_of" => match arg.as_array() {
            Some(items) if !items.is_empty() => {}
            _ => problems.push("one_of takes a non-empty list".into()),
        },
        "all" => match arg.as_array() {
            Some(items) if !items.is_empty() => items
                .iter()
                .for_each(|item| check(item, captures, problems)),
            _ => problems.push("all takes a non-empty list of expectations".into()),
        },
        "contains" | "starts_with" | "ends_with" | "lacks" => {
            if !arg.is_str() {
                problems.push(format!("{key} takes a string"));
            }
        }
        "hex" => match arg.as_str().map(parse_hex) {
            Some(Ok(_)) => {}
            Some(Err(e)) => problems.push(format!("hex matcher does not parse: {e}")),
            None => problems.push("hex takes a string".into()),
        },
        "same_as" | "differs_from" => match arg.as_str() {
            Some(name) if captures.contains(name) => {}
            Some(name) => problems.push(format!(
                "{key} names {name:?}, which no earlier step captures"
            )),
            None => problems.push(format!("{key} takes the name of a captured value")),
        },
        // `ref` holds the reference broker's value, itself a literal or a matcher.
        _ => check(arg, captures, problems),
    }
}

fn range(min: Option<&Value>, max: Option<&Value>, problems: &mut Vec<String>) {
    let number = |v: &Value| v.as_integer().map(|i| i as f64).or_else(|| v.as_float());
    let bounds = [min, max].map(|b| b.map(|v| (v, number(v))));
    for (name, bound) in ["min", "max"].iter().zip(&bounds) {
        if let Some((_, None)) = bound {
            problems.push(format!("{name} takes a number"));
        }
    }
    if let [Some((_, Some(lo))), Some((_, Some(hi)))] = bounds
        && lo > hi
    {
        problems.push(format!("min {lo} is above max {hi}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml_value: &str) -> Vec<String> {
        let doc: toml::Table = toml::from_str(&format!("v = {toml_value}")).expect("toml");
        let captures = BTreeSet::from(["token".to_owned()]);
        check_expected(&doc["v"], &captures)
    }

    #[test]
    fn literals_and_every_known_matcher_pass() {
        for ok in [
            "\"ERROR_X\"",
            "0",
            "true",
            "[1, 2]",
            "{ any = true }",
            "{ non_empty = true }",
            "{ empty = true }",
            "{ len = 3 }",
            "{ one_of = [1, 2] }",
            "{ min = 1, max = 2.5 }",
            "{ min = 1 }",
            "{ contains = \"x\" }",
            "{ starts_with = \"x\" }",
            "{ hex = \"01 02\" }",
            "{ bits = 1 }",
            "{ no_bits = 4 }",
            "{ same_as = \"token\" }",
            "{ differs_from = \"token\" }",
            "{ ref = \"text\" }",
            "{ ref = { contains = \"x\" } }",
        ] {
            assert_eq!(problems(ok), Vec::<String>::new(), "{ok}");
        }
    }

    #[test]
    fn malformed_matchers_are_named() {
        for (bad, expected) in [
            ("{}", "an empty table is no matcher"),
            (
                "{ contains = \"a\", len = 1 }",
                "exactly one matcher, not contains, len",
            ),
            ("{ equals = 1 }", "unknown matcher \"equals\""),
            ("{ any = false }", "any takes `true`"),
            ("{ len = -1 }", "len takes a non-negative integer"),
            ("{ one_of = [] }", "one_of takes a non-empty list"),
            ("{ contains = 1 }", "contains takes a string"),
            ("{ hex = \"0g\" }", "hex matcher does not parse"),
            (
                "{ same_as = \"pipe\" }",
                "same_as names \"pipe\", which no earlier step captures",
            ),
            ("{ min = \"a\" }", "min takes a number"),
            ("{ min = 3, max = 1 }", "min 3 is above max 1"),
            ("{ ref = { nope = 1 } }", "unknown matcher \"nope\""),
        ] {
            let found = problems(bad);
            assert!(
                found.len() == 1 && found[0].contains(expected),
                "{bad}: {found:?}"
            );
        }
    }
}
