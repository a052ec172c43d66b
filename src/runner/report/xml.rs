//! Escaping text for XML 1.0 (JUnit reports carry peer-controlled bytes).

/// Escapes `text` for an attribute value. Markup characters become
/// entities; line breaks and tabs become character references (so the
/// value keeps them); characters XML 1.0 cannot hold at all (most C0
/// controls, U+FFFE, U+FFFF) are written as `\u{..}`.
pub(crate) fn escape_attr(text: &str) -> String {
    escape(text, true)
}

/// Escapes `text` for element content: as [`escape_attr`], but line feeds
/// and tabs stay as they are.
pub(crate) fn escape_text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' if !attribute => out.push(c),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if is_forbidden(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Characters outside XML 1.0's `Char` production.
fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_become_entities() {
        assert_eq!(
            escape_attr(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_cdata_terminator_and_existing_entities_cannot_break_out() {
        assert_eq!(escape_text("]]>"), "]]&gt;");
        assert_eq!(escape_attr("&amp;&#0;"), "&amp;amp;&amp;#0;");
    }

    #[test]
    fn controls_xml_cannot_hold_are_spelled_out_and_whitespace_is_kept() {
        assert_eq!(
            escape_text("a\u{0}b\u{1b}[31mc\u{7f}\u{fffe}"),
            "a\\u{0}b\\u{1b}[31mc\u{7f}\\u{fffe}"
        );
        assert_eq!(escape_attr("l1\r\nl2\tx"), "l1&#13;&#10;l2&#9;x");
        assert_eq!(escape_text("l1\r\nl2\tx"), "l1&#13;\nl2\tx");
    }

    #[test]
    fn other_unicode_passes_through() {
        assert_eq!(
            escape_text("héllo ✅ 🔥 \u{10ffff}"),
            "héllo ✅ 🔥 \u{10ffff}"
        );
    }

    #[test]
    fn escaped_text_never_holds_a_raw_markup_character() {
        let nasty: String = (0u32..0x300).filter_map(char::from_u32).collect();
        let escaped = escape_attr(&nasty);
        assert!(!escaped.contains(['<', '>', '"', '\'']));
        assert!(escaped.chars().all(|c| !is_forbidden(c) && c != '\n'));
        // Every & starts an entity or character reference.
        for (i, _) in escaped.match_indices('&') {
            let rest = &escaped[i..];
            assert!(
                [
                    "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#10;", "&#13;", "&#9;"
                ]
                .iter()
                .any(|e| rest.starts_with(e)),
                "{rest}"
            );
        }
    }
}
