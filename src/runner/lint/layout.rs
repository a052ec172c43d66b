//! The layout of the suite files: no line of a `.toml` suite file (cases,
//! `services.toml`, `retired.toml`, `clauses.toml`, `expected/*.toml`) is
//! wider than [`MAX_COLUMNS`], so each reads in a review without scrolling.
//! Wide values are written as TOML dotted keys, and long strings continue
//! over lines (`conformance/README.md`, "A case").

use super::Problems;
use crate::runner::suite::Suite;

/// The widest a suite-file line may be, in columns (one per character).
pub(crate) const MAX_COLUMNS: usize = 120;

/// A line wider than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WideLine {
    /// Its number, from 1.
    pub line: usize,
    /// Its width in columns.
    pub columns: usize,
}

/// The lines of `text` wider than `max` columns. A character is one
/// column; the line ending (`\n` or `\r\n`) is not counted.
pub(crate) fn wide_lines(text: &str, max: usize) -> Vec<WideLine> {
    text.lines()
        .enumerate()
        .map(|(i, line)| WideLine {
            line: i + 1,
            columns: line.chars().count(),
        })
        .filter(|wide| wide.columns > max)
        .collect()
}

/// One problem per line of a `.toml` suite file wider than [`MAX_COLUMNS`],
/// naming the line and its width. A file that is not UTF-8 is left to the
/// parse check, which reports it.
pub(super) fn suite_layout(suite: &Suite, problems: &mut Problems) {
    let toml_files = suite
        .files
        .iter()
        .filter(|(path, _)| path.ends_with(".toml"));
    for (path, bytes) in toml_files {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        for wide in wide_lines(text, MAX_COLUMNS) {
            problems.push(
                path,
                &format!("line {}", wide.line),
                format!(
                    "{} columns, over {MAX_COLUMNS}: write dotted keys, or continue a long string \
                     over lines",
                    wide.columns
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn line(columns: usize) -> String {
        "x".repeat(columns)
    }

    #[test]
    fn a_line_of_exactly_the_limit_passes_and_one_more_column_fails() {
        let text = format!("{}\n{}\n", line(MAX_COLUMNS), line(MAX_COLUMNS + 1));
        assert_eq!(
            wide_lines(&text, MAX_COLUMNS),
            [WideLine {
                line: 2,
                columns: MAX_COLUMNS + 1
            }]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes_nor_the_line_ending() {
        // 10 three-byte characters: 30 bytes, 10 columns.
        let text = format!("{}\r\n{}", "…".repeat(10), "§".repeat(11));
        assert_eq!(
            wide_lines(&text, 10),
            [WideLine {
                line: 2,
                columns: 11
            }]
        );
    }

    #[test]
    fn every_wide_line_is_reported_with_its_number() {
        let text = format!("a\n{}\nb\n\n{}", line(7), line(9));
        assert_eq!(
            wide_lines(&text, 6),
            [
                WideLine {
                    line: 2,
                    columns: 7
                },
                WideLine {
                    line: 5,
                    columns: 9
                }
            ]
        );
        assert!(wide_lines("", 6).is_empty());
    }

    #[test]
    fn the_suite_check_names_file_line_and_width_of_toml_files_only() {
        let wide = format!("# {}\n", line(MAX_COLUMNS));
        let files: BTreeMap<String, Vec<u8>> = [
            ("services.toml", format!("\n\n{wide}")),
            (
                "expected/impl.toml",
                format!("{wide}implementation = \"x\"\n"),
            ),
            ("README.md", wide.clone()),
            ("retired.toml", "# short\n".to_owned()),
        ]
        .into_iter()
        .map(|(path, text)| (path.to_owned(), text.into_bytes()))
        .collect();
        let suite = Suite::from_files("test".into(), files)
            .unwrap_or_else(|e| panic!("the test suite parses: {e}"));
        let mut problems = Problems::default();
        suite_layout(&suite, &mut problems);
        let shown: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "expected/impl.toml: line 1: 122 columns, over 120: write dotted keys, or continue a \
                 long string over lines",
                "services.toml: line 3: 122 columns, over 120: write dotted keys, or continue a long \
                 string over lines",
            ]
        );
    }
}
