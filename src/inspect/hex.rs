//! Hex encoding and a whitespace-tolerant hex parser.

use std::fmt::Write as _;

/// Lowercase hex, no separators.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Lowercase hex with a space between bytes.
pub(crate) fn to_spaced_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A hex string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is neither a hex digit nor white space.
    #[error("{found:?} at character {at} is not a hex digit")]
    InvalidDigit {
        /// Character offset.
        at: usize,
        /// The character.
        found: char,
    },
    /// An odd number of hex digits.
    #[error("odd number of hex digits ({digits})")]
    OddLength {
        /// How many digits there were.
        digits: usize,
    },
}

/// Parses hex digits, ignoring white space (spaces, tabs, newlines), so the
/// spec's spaced test vectors paste in as they are.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut digits = Vec::with_capacity(text.len());
    for (at, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            continue;
        }
        let d = c
            .to_digit(16)
            .ok_or(HexError::InvalidDigit { at, found: c })?;
        digits.push(d as u8);
    }
    if digits.len() % 2 != 0 {
        return Err(HexError::OddLength {
            digits: digits.len(),
        });
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spaced_hex_and_rejects_garbage() {
        assert_eq!(parse_hex("01 1c00\n0000"), Ok(vec![0x01, 0x1c, 0, 0, 0]));
        assert_eq!(
            parse_hex("0g"),
            Err(HexError::InvalidDigit { at: 1, found: 'g' })
        );
        assert_eq!(parse_hex("012"), Err(HexError::OddLength { digits: 3 }));
        assert_eq!(to_spaced_hex(&[1, 0xab]), "01 ab");
    }
}
