//! A case's wire log as text: one line per event (time, connection, what
//! happened), and for every event that carries bytes an annotated dump of
//! them, field by field.

use std::fmt::Write as _;

use crate::inspect::annotate::{annotate_any_frame, render};
use crate::inspect::hex::parse_hex;
use crate::runner::model::TraceEvent;

/// Indentation of a dump below its event line.
const DUMP_INDENT: &str = "            ";

/// Renders a wire log: `   12 ms  main  recv  (42 bytes)`, then the bytes
/// as an annotated frame dump, indented; events without bytes (notes,
/// closes) are plain lines.
pub(crate) fn render_trace(events: &[TraceEvent]) -> String {
    let mut out = String::new();
    for event in events {
        let _ = write!(out, "{:>6} ms  {}  {}", event.at_ms, event.conn, event.what);
        if event.hex.is_empty() {
            if !event.note.is_empty() {
                let _ = write!(out, "  {}", event.note);
            }
            out.push('\n');
            continue;
        }
        match parse_hex(&event.hex) {
            Ok(bytes) => {
                let plural = if bytes.len() == 1 { "" } else { "s" };
                let _ = write!(out, "  ({} byte{plural})", bytes.len());
                if !event.note.is_empty() {
                    let _ = write!(out, "  {}", event.note);
                }
                out.push('\n');
                for line in render(&annotate_any_frame(&bytes)).lines() {
                    let _ = writeln!(out, "{DUMP_INDENT}{line}");
                }
            }
            Err(e) => {
                if !event.note.is_empty() {
                    let _ = write!(out, "  {}", event.note);
                }
                let _ = writeln!(
                    out,
                    "\n{DUMP_INDENT}(logged hex does not parse: {e}) {}",
                    event.hex
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: u64, what: &str, hex: &str, note: &str) -> TraceEvent {
        TraceEvent {
            at_ms,
            conn: "main".into(),
            what: what.into(),
            hex: hex.into(),
            note: note.into(),
        }
    }

    #[test]
    fn bytes_are_shown_as_an_annotated_frame_below_their_event() {
        // Header 01 + length 2, body: field 1 (envelope_version) = 1.
        let text = render_trace(&[event(3, "send", "01 02000000 0801", "")]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("     3 ms  main  send  (7 bytes)"));
        let dump: Vec<&str> = lines.collect();
        assert!(dump.iter().all(|l| l.starts_with(DUMP_INDENT)), "{text}");
        assert!(text.contains("framing version 0x01"), "{text}");
        assert!(text.contains("body length 2"), "{text}");
        assert!(text.contains("envelope_version"), "{text}");
    }

    #[test]
    fn bytes_that_are_not_a_frame_are_still_shown() {
        let text = render_trace(&[event(0, "send", "02", "patched")]);
        assert!(
            text.starts_with("     0 ms  main  send  (1 byte)  patched\n"),
            "{text}"
        );
        assert!(text.contains("not a complete frame"), "{text}");
    }

    #[test]
    fn notes_and_closes_are_plain_lines() {
        let text = render_trace(&[
            event(10, "note", "", "backend killed"),
            event(11, "close", "", ""),
        ]);
        assert_eq!(
            text,
            "    10 ms  main  note  backend killed\n    11 ms  main  close\n"
        );
    }

    #[test]
    fn unparseable_logged_hex_is_reported_not_dropped() {
        let text = render_trace(&[event(1, "recv", "zz", "")]);
        assert!(text.contains("(logged hex does not parse: "), "{text}");
        assert!(text.ends_with(" zz\n"), "{text}");
    }
}
