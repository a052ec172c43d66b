//! Reading the clause tables of the spec (`v1-protocol.md`): every Markdown
//! table whose header row starts `| ID | Level |`, one clause a row.
//!
//! The rule text is the row's text with its Markdown removed, and nothing
//! else changed: code-span backticks are dropped (their content is kept
//! as written), `**` emphasis is dropped outside code spans, `\|` reads as
//! `|`, and a row with more than one text column (`| Condition | Reply |`)
//! joins them with ` — `. Each clause also records the kinds it binds
//! (v2), from its section's "Applies to:" paragraph ([`Applies`]).

use serde::Deserialize as _;
use serde::de::IntoDeserializer as _;

use super::applies::{Applies, MARKER};
use crate::runner::model::{ClauseKind, Level};

/// One row of a clause table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecClause {
    /// Its id, e.g. `FRM-4`.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Its rule, as the spec states it, without Markdown.
    pub rule: String,
    /// The kinds it binds (empty for a spec without "Applies to" paragraphs).
    pub binds: Vec<ClauseKind>,
}

/// A clause table row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A row has no rule column.
    #[error("spec line {line}: clause {id} has no rule text")]
    NoRule {
        /// The line, from 1.
        line: usize,
        /// The clause.
        id: String,
    },
    /// A row's level is not MUST, SHOULD or REF.
    #[error("spec line {line}: clause {id} has level {level:?}, not MUST, SHOULD or REF")]
    Level {
        /// The line, from 1.
        line: usize,
        /// The clause.
        id: String,
        /// The level as written.
        level: String,
    },
    /// An id is defined twice.
    #[error("spec line {line}: clause {id} is defined twice (first on line {first})")]
    Twice {
        /// The line of the second definition, from 1.
        line: usize,
        /// The clause.
        id: String,
        /// The line of the first definition.
        first: usize,
    },
}

/// The clauses of every clause table in `markdown`, in the spec's order.
pub fn spec_clauses(markdown: &str) -> Result<Vec<SpecClause>, SpecError> {
    let mut clauses: Vec<(usize, SpecClause)> = Vec::new();
    let mut in_table = false;
    let mut applies = Applies::default();
    // A spec without any "Applies to" paragraph (v1) binds no kinds.
    let mut has_applies = false;
    let lines: Vec<&str> = markdown.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        if line.starts_with('#') {
            applies = Applies::default();
        } else if line.starts_with(MARKER) {
            let paragraph: Vec<&str> = lines[index..]
                .iter()
                .take_while(|l| !l.trim().is_empty())
                .copied()
                .collect();
            applies = Applies::parse(&paragraph.join(" "));
            has_applies = true;
        }
        let Some(cells) = table_cells(line) else {
            in_table = false;
            continue;
        };
        let [first, second, ..] = cells.as_slice() else {
            continue;
        };
        if first.eq_ignore_ascii_case("id") && second.eq_ignore_ascii_case("level") {
            in_table = true;
            continue;
        }
        if !in_table || is_delimiter_row(&cells) {
            continue;
        }
        let id = first.to_string();
        if let Some((first_line, _)) = clauses.iter().find(|(_, c)| c.id == id) {
            return Err(SpecError::Twice {
                line: number,
                id,
                first: *first_line,
            });
        }
        let level = Level::deserialize(second.as_str().into_deserializer()).map_err(
            |_: serde::de::value::Error| SpecError::Level {
                line: number,
                id: id.clone(),
                level: second.to_string(),
            },
        )?;
        let texts: Vec<String> = cells[2..]
            .iter()
            .map(|cell| plain(cell))
            .filter(|text| !text.trim().is_empty())
            .collect();
        if texts.is_empty() {
            return Err(SpecError::NoRule { line: number, id });
        }
        let rule = texts.join(" — ");
        let binds = match has_applies {
            true => applies.kinds_of(&id, &rule),
            false => Vec::new(),
        };
        clauses.push((
            number,
            SpecClause {
                id,
                level,
                rule,
                binds,
            },
        ));
    }
    Ok(clauses.into_iter().map(|(_, clause)| clause).collect())
}

/// The trimmed cells of a table row (`| a | b |`), split on `|` that is not
/// escaped as `\|`; `None` for a line that is not a table row.
fn table_cells(line: &str) -> Option<Vec<String>> {
    let row = line.trim().strip_prefix('|')?;
    let row = row.strip_suffix('|').unwrap_or(row);
    let mut cells = vec![String::new()];
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut()?.push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut()?.push(c),
        }
    }
    Some(cells.iter().map(|c| c.trim().to_owned()).collect())
}

/// `|---|:--|` rows.
fn is_delimiter_row(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':')))
}

/// A cell's text without Markdown: backticks of code spans dropped (their
/// content kept as written), `**` dropped outside code spans.
fn plain(cell: &str) -> String {
    cell.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                part.to_owned()
            } else {
                part.replace("**", "")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(id: &str, level: Level, rule: &str) -> SpecClause {
        SpecClause {
            id: id.to_owned(),
            level,
            rule: rule.to_owned(),
            binds: Vec::new(),
        }
    }

    #[test]
    fn only_clause_tables_are_read_in_order() {
        let spec = "\
| ID | Level | Rule |
|---|---|---|
| FRM-2 | MUST | a \\| b |
| FRM-1 | REF | c |

| Name | Value |
|---|---|
| X-1 | 5 |

| ID | Level | Condition | Reply |
|----|-------|---|---|
| HEL-1 | SHOULD | x | y |
";
        assert_eq!(
            spec_clauses(spec).unwrap_or_else(|e| panic!("{e}")),
            [
                clause("FRM-2", Level::Must, "a | b"),
                clause("FRM-1", Level::Ref, "c"),
                clause("HEL-1", Level::Should, "x — y"),
            ]
        );
    }

    #[test]
    fn markdown_is_removed_and_nothing_else_changes() {
        let spec = "\
| ID | Level | Rule |
|---|---|---|
| FRM-3 | MUST | `MAX` = 65 536. A body **greater** than this gets `Refused{code=X}`; `a**b` stays.  |
";
        assert_eq!(
            spec_clauses(spec).unwrap_or_else(|e| panic!("{e}")),
            [clause(
                "FRM-3",
                Level::Must,
                "MAX = 65 536. A body greater than this gets Refused{code=X}; a**b stays."
            )]
        );
    }

    #[test]
    fn a_table_ends_at_the_first_line_that_is_not_a_row() {
        let spec =
            "| ID | Level | Rule |\n|---|---|---|\n| A-1 | MUST | r |\ntext\n| B-1 | MUST | s |\n";
        let ids: Vec<String> = spec_clauses(spec)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["A-1"]);
    }

    #[test]
    fn bad_rows_are_errors_naming_the_line() {
        let head = "| ID | Level | Rule |\n|---|---|---|\n";
        assert_eq!(
            spec_clauses(&format!("{head}| A-1 | MAY | r |\n")),
            Err(SpecError::Level {
                line: 3,
                id: "A-1".into(),
                level: "MAY".into()
            })
        );
        assert_eq!(
            spec_clauses(&format!("{head}| A-1 | MUST | ` ` |\n")),
            Err(SpecError::NoRule {
                line: 3,
                id: "A-1".into()
            })
        );
        assert_eq!(
            spec_clauses(&format!("{head}| A-1 | MUST | r |\n| A-1 | MUST | s |\n")),
            Err(SpecError::Twice {
                line: 4,
                id: "A-1".into(),
                first: 3
            })
        );
    }
}
