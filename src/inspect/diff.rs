//! A side-by-side hex diff of two byte strings.

use std::fmt::Write as _;

use super::hex::to_spaced_hex;

const ROW: usize = 16;
/// Unchanged rows shown around each differing row.
const CONTEXT_ROWS: usize = 1;

/// Renders the rows where `expected` and `actual` differ (with one row of
/// context), carets under the differing bytes, and a one-line summary.
/// Returns an empty string when they are equal.
pub fn hex_diff(expected: &[u8], actual: &[u8]) -> String {
    if expected == actual {
        return String::new();
    }
    let first = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    let mut out = format!(
        "first difference at byte {first} (0x{first:x}); expected {} bytes, actual {} bytes\n",
        expected.len(),
        actual.len()
    );
    let width = ROW * 3 - 1;
    let _ = writeln!(
        out,
        "  offset  {:<width$}  {:<width$}",
        "expected", "actual"
    );
    let rows = expected.len().max(actual.len()).div_ceil(ROW);
    let row_of = |bytes: &[u8], r: usize| -> Vec<u8> {
        bytes
            .get(r * ROW..)
            .map_or_else(Vec::new, |rest| rest.iter().take(ROW).copied().collect())
    };
    let differs: Vec<bool> = (0..rows)
        .map(|r| row_of(expected, r) != row_of(actual, r))
        .collect();
    let mut elided = false;
    for r in 0..rows {
        let near =
            (r.saturating_sub(CONTEXT_ROWS)..=(r + CONTEXT_ROWS).min(rows - 1)).any(|i| differs[i]);
        if !near {
            if !elided {
                out.push_str("  ...\n");
                elided = true;
            }
            continue;
        }
        elided = false;
        let (e, a) = (row_of(expected, r), row_of(actual, r));
        let mark = if differs[r] { '!' } else { ' ' };
        let _ = writeln!(
            out,
            "{mark} {:06x}  {:<width$}  {:<width$}",
            r * ROW,
            to_spaced_hex(&e),
            to_spaced_hex(&a)
        );
        if differs[r] {
            let carets: String = (0..ROW)
                .map(|i| if e.get(i) != a.get(i) { "^^ " } else { "   " })
                .collect();
            let _ = writeln!(out, "          {:<width$}  {}", "", carets.trim_end());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_differing_byte_and_elides_far_rows() {
        let expected: Vec<u8> = (0..64).collect();
        let mut actual = expected.clone();
        actual[50] ^= 0xff;
        let diff = hex_diff(&expected, &actual);
        assert!(
            diff.starts_with("first difference at byte 50 (0x32)"),
            "{diff}"
        );
        assert!(diff.contains("! 000030"), "{diff}");
        assert!(diff.contains("  ...\n"), "{diff}");
        assert_eq!(diff.lines().filter(|l| l.contains("^^")).count(), 1);
        assert!(hex_diff(&expected, &expected).is_empty());
    }

    #[test]
    fn reports_length_differences() {
        let diff = hex_diff(&[1, 2, 3], &[1, 2]);
        assert!(diff.starts_with("first difference at byte 2"), "{diff}");
        assert!(diff.contains("expected 3 bytes, actual 2 bytes"));
    }
}
