//! Which kinds of implementation a v2 clause binds, read from its section's
//! "Applies to:" paragraph (v2 spec §0): `FD`, `LB`, `both kinds`,
//! `writers …`, `a client …` give the section's kinds; a `;`-separated part
//! naming clause ids (`V2W-16 … V2W-19`, ranges included) replaces them for
//! those ids, or adds to them when it says `also`. A section without the
//! paragraph falls back on the rule text (`A v2 front door …`). Pure.

use crate::runner::model::ClauseKind;

/// One section's "Applies to" paragraph, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Applies {
    /// The kinds every clause of the section binds unless a part says otherwise.
    base: Vec<ClauseKind>,
    /// Parts naming clause ids: the ids, their kinds, and whether the kinds add to `base`.
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    ids: Vec<String>,
    kinds: Vec<ClauseKind>,
    also: bool,
}

/// The marker that opens the paragraph.
pub(crate) const MARKER: &str = "Applies to:";

impl Applies {
    /// Parses the paragraph's text (lines joined), from `Applies to:` to its
    /// first sentence's end.
    pub(crate) fn parse(paragraph: &str) -> Self {
        let text = paragraph
            .split_once(MARKER)
            .map_or(paragraph, |(_, rest)| rest);
        let sentence = text.split(". ").next().unwrap_or(text);
        let sentence = without_parentheses(sentence.trim().trim_end_matches('.'));
        let mut applies = Self::default();
        for part in sentence.split(';') {
            let words = words(part);
            let ids = clause_ids(&words);
            let kinds = kinds_named(&words);
            if ids.is_empty() {
                applies.base.extend(kinds);
            } else {
                applies.parts.push(Part {
                    ids,
                    kinds,
                    also: words.contains(&"also"),
                });
            }
        }
        applies
    }

    /// The kinds clause `id` binds; `rule` decides when the paragraph does not.
    pub(crate) fn kinds_of(&self, id: &str, rule: &str) -> Vec<ClauseKind> {
        let mut kinds = self.base.clone();
        for part in self.parts.iter().filter(|p| p.ids.iter().any(|i| i == id)) {
            if !part.also {
                kinds.clear();
            }
            kinds.extend(part.kinds.iter().copied());
        }
        if kinds.is_empty() {
            kinds = kinds_named(&words(rule));
        }
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// `text` without its parenthesised asides (`(the client library's helpers)`).
fn without_parentheses(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect()
}

/// Words of `text`: split on white space and punctuation other than `-`.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '(' | ')' | '`' | ':'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// `V2W-16`-shaped words: upper-case letters and digits, `-`, a number.
fn clause_id(word: &str) -> Option<(&str, u32)> {
    let (prefix, number) = word.rsplit_once('-')?;
    let upper = !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    upper.then_some(())?;
    Some((prefix, number.parse().ok()?))
}

/// The clause ids named by `words`, `A-1 … A-4` expanded to.
fn clause_ids(words: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let Some((prefix, number)) = clause_id(word) else {
            continue;
        };
        let after_range = i >= 2
            && matches!(words[i - 1], "…" | "...")
            && clause_id(words[i - 2]).is_some_and(|(p, _)| p == prefix);
        let from = match after_range {
            true => clause_id(words[i - 2]).map_or(number, |(_, n)| n + 1),
            false => number,
        };
        ids.extend((from..=number).map(|n| format!("{prefix}-{n}")));
    }
    ids
}

/// The kinds `words` name: `FD`/`front door`, `LB`, `both kinds`, writers, clients.
fn kinds_named(words: &[&str]) -> Vec<ClauseKind> {
    let mut kinds = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or_default();
        match (*word, next) {
            ("FD", _) | ("front", "door") => kinds.push(ClauseKind::FrontDoor),
            ("LB", _) => kinds.push(ClauseKind::Launching),
            ("both", "kinds") => kinds.extend([ClauseKind::FrontDoor, ClauseKind::Launching]),
            ("writers", _) => kinds.push(ClauseKind::Writer),
            ("client", _) => kinds.push(ClauseKind::Client),
            _ => {}
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClauseKind::{Client, FrontDoor, Launching, Writer};

    #[test]
    fn the_section_kind_binds_every_clause_unless_a_part_names_it() {
        let a = Applies::parse(
            "Applies to: both kinds; V2W-14 and V2W-16 … V2W-19 bind the LB only. The surface",
        );
        assert_eq!(a.kinds_of("V2W-1", ""), [FrontDoor, Launching]);
        assert_eq!(a.kinds_of("V2W-14", ""), [Launching]);
        assert_eq!(a.kinds_of("V2W-17", ""), [Launching]);
        assert_eq!(a.kinds_of("V2W-15", ""), [FrontDoor, Launching]);
    }

    #[test]
    fn also_adds_and_a_part_without_base_replaces() {
        let d = Applies::parse("Applies to: FD; V2D-2 and V2D-4 also bind the LB.");
        assert_eq!(d.kinds_of("V2D-1", ""), [FrontDoor]);
        assert_eq!(d.kinds_of("V2D-4", ""), [FrontDoor, Launching]);
        let r = Applies::parse(
            "Applies to: V2R-1 binds the FD; V2R-2 … V2R-7 bind the LB at REF level (MUST for the reference broker, informational).",
        );
        assert_eq!(r.kinds_of("V2R-1", ""), [FrontDoor]);
        assert_eq!(r.kinds_of("V2R-5", ""), [Launching]);
    }

    #[test]
    fn only_the_first_sentence_counts_and_the_rule_is_the_fallback() {
        let h = Applies::parse("Applies to: FD. An LB checks Hellos per v1 §4.");
        assert_eq!(h.kinds_of("V2H-1", ""), [FrontDoor]);
        let m = Applies::parse(
            "Applies to: writers of v2 manifests (the client library's helpers). No",
        );
        assert_eq!(m.kinds_of("V2M-1", ""), [Writer]);
        let k = Applies::parse("Applies to: a client library's v2 helpers. CLI-4's mapping");
        assert_eq!(k.kinds_of("V2K-1", ""), [Client]);
        assert_eq!(
            Applies::default().kinds_of("V2S-0", "A v2 front door refuses"),
            [FrontDoor]
        );
        assert!(Applies::default().kinds_of("X-1", "nothing").is_empty());
    }
}
