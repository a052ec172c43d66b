//! Writing a clause catalogue (`conformance/clauses.toml`,
//! `conformance/clauses-v2.toml`): one `[[clause]]` table per clause,
//! every line at most [`MAX_COLUMNS`] wide. A string too long for its line
//! becomes a multi-line basic string whose lines end in `\` (TOML trims the
//! line break and the next line's indent), so the value is unchanged.

use std::fmt::Write as _;

use super::Catalogue;
use crate::runner::lint::layout::MAX_COLUMNS;
use crate::runner::model::ClauseInfo;

/// The comment that opens a catalogue of `spec`'s clauses.
fn header(catalogue: &Catalogue, with_binds: bool) -> String {
    let spec = &catalogue.spec;
    let mut text = format!(
        "\
# The clauses of ../shared/spec/{spec}, as the suite tracks them. Written by
#   broker-conformance clauses --spec ../shared/spec/{spec}
# from the spec's clause tables: id, level and rule come from the spec (the rule is the
# row's text without Markdown: code-span backticks and ** dropped, \\| read as |, and a
# Condition | Reply row joined by \" — \"). Edit only `observable` and `why` here; the
# generator keeps them. tests/conformance_catalogue.rs checks the file is up to date.
# `coverage` fails when an observable MUST clause has no case. A clause that
# cannot be observed from outside a broker says why, and where else it is proved.
"
    );
    if with_binds {
        text.push_str(
            "\
# `binds` comes from the spec too: the kinds of implementation the clause binds (front-door,
# launching, client, writer), read from its section's \"Applies to\" paragraph.
",
        );
    }
    text
}

/// Indent of a continued string's lines.
const INDENT: &str = "  ";

/// The catalogue file for `clauses`, in their order.
pub fn render_catalogue(catalogue: &Catalogue, clauses: &[ClauseInfo]) -> String {
    let mut out = header(catalogue, clauses.iter().any(|c| !c.binds.is_empty()));
    for clause in clauses {
        out.push_str("\n[[clause]]\n");
        out.push_str(&string_entry("id", &clause.id));
        out.push_str(&string_entry("level", &clause.level.to_string()));
        out.push_str(&string_entry("rule", &clause.rule));
        if !clause.binds.is_empty() {
            let kinds: Vec<String> = clause.binds.iter().map(|k| format!("\"{k}\"")).collect();
            let _ = writeln!(out, "binds = [{}]", kinds.join(", "));
        }
        if !clause.observable {
            out.push_str("observable = false\n");
        }
        if let Some(why) = &clause.why {
            out.push_str(&string_entry("why", why));
        }
    }
    out
}

/// `key = "value"` and its line break; a continued string when that line
/// would be wider than [`MAX_COLUMNS`].
fn string_entry(key: &str, value: &str) -> String {
    let line = format!("{key} = \"{}\"", escape(value, false));
    if line.chars().count() <= MAX_COLUMNS {
        return line + "\n";
    }
    let mut out = format!("{key} = \"\"\"\\\n");
    let chunks = continuation_chunks(value, MAX_COLUMNS - INDENT.len() - 1);
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.iter().enumerate() {
        let text = escape(chunk, true);
        // A closing `"""` right after a quote would read as `""""`: such a
        // string closes on a line of its own.
        let closes_here = i == last
            && !text.ends_with('"')
            && INDENT.len() + text.chars().count() + 3 <= MAX_COLUMNS;
        let end = if closes_here { "\"\"\"" } else { "\\" };
        let _ = writeln!(out, "{INDENT}{text}{end}");
        if i == last && !closes_here {
            let _ = writeln!(out, "{INDENT}\"\"\"");
        }
    }
    out
}

/// `value` cut into pieces whose escaped text fits `room` columns, each cut
/// made before a character that is not whitespace (the continuation trims
/// whitespace at the start of a line), after a space where one fits.
fn continuation_chunks(value: &str, room: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = value;
    while escaped_width(rest) > room {
        let mut after_space = None;
        let mut anywhere = None;
        let mut width = 0;
        let mut previous = None;
        for (at, c) in rest.char_indices() {
            if at > 0 && !c.is_whitespace() {
                anywhere = Some(at);
                if previous == Some(' ') {
                    after_space = Some(at);
                }
            }
            width += escaped_width(c.encode_utf8(&mut [0; 4]));
            if width > room {
                break;
            }
            previous = Some(c);
        }
        let Some(cut) = after_space.or(anywhere) else {
            break;
        };
        let (chunk, tail) = rest.split_at(cut);
        chunks.push(chunk);
        rest = tail;
    }
    chunks.push(rest);
    chunks
}

fn escaped_width(text: &str) -> usize {
    escape(text, true).chars().count()
}

/// `text` escaped for a TOML basic string; in a multi-line one a quote is
/// escaped only where it would make a run of three.
fn escape(text: &str, multi_line: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quotes_in_a_row = 0;
    for c in text.chars() {
        match c {
            '"' if !multi_line || quotes_in_a_row == 2 => {
                out.push_str("\\\"");
                quotes_in_a_row = 0;
                continue;
            }
            '"' => {
                out.push('"');
                quotes_in_a_row += 1;
                continue;
            }
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
        quotes_in_a_row = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::model::{ClausesFile, Level};

    fn clause(id: &str, rule: &str, why: Option<&str>) -> ClauseInfo {
        ClauseInfo {
            id: id.to_owned(),
            level: Level::Must,
            rule: rule.to_owned(),
            binds: Vec::new(),
            observable: why.is_none(),
            why: why.map(str::to_owned),
        }
    }

    fn reparsed(text: &str) -> Vec<ClauseInfo> {
        toml::from_str::<ClausesFile>(text)
            .unwrap_or_else(|e| panic!("rendered catalogue parses: {e}\n{text}"))
            .clauses
    }

    #[test]
    fn a_short_clause_is_one_line_a_key() {
        let text = render_catalogue(
            &Catalogue::V1,
            &[clause("FRM-1", "The header is 5 bytes.", None)],
        );
        assert!(
            text.ends_with(
                "\n[[clause]]\nid = \"FRM-1\"\nlevel = \"MUST\"\nrule = \"The header is 5 bytes.\"\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn long_and_awkward_strings_fit_the_width_and_read_back_unchanged() {
        let words = "word ".repeat(60);
        let clauses = [
            clause("A-1", &format!("{words}end"), None),
            clause(
                "A-2",
                &format!("label `handoff = \"1\"` {words}\"quoted\""),
                Some("why"),
            ),
            clause(
                "A-3",
                &format!("{}  two  spaces \\ back\tslash", "x".repeat(300)),
                None,
            ),
            clause("A-4", &format!("{words}\"\"\" three quotes"), Some(&words)),
            clause("A-5", &format!("{}é…{words}", "é".repeat(130)), None),
        ];
        let text = render_catalogue(&Catalogue::V1, &clauses);
        for line in text.lines() {
            assert!(line.chars().count() <= MAX_COLUMNS, "too wide: {line}");
        }
        assert_eq!(reparsed(&text), clauses);
    }

    #[test]
    fn a_continued_string_breaks_after_spaces() {
        let rule = "alpha ".repeat(40);
        let text = render_catalogue(&Catalogue::V1, &[clause("A-1", rule.trim_end(), None)]);
        let body: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("rule = \"\"\"\\"))
            .skip(1)
            .collect();
        assert!(body.len() >= 2, "{text}");
        for line in &body[..body.len() - 1] {
            assert!(
                line.starts_with("  alpha") && line.ends_with(" \\"),
                "{line}"
            );
        }
        assert!(body[body.len() - 1].ends_with("alpha\"\"\""), "{text}");
    }
}
