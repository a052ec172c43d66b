//! Command templates split into words the way a POSIX shell quotes, so a
//! `--broker-cmd` runs without a shell in between.

/// Splits a command line into words like a POSIX shell would for quoting
/// (`'…'`, `"…"`, backslash), without expansions or operators.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => {
                            return Err("unterminated single quote in the broker command".into());
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => {
                                return Err(
                                    "unterminated double quote in the broker command".into()
                                );
                            }
                        },
                        Some(c) => word.push(c),
                        None => {
                            return Err("unterminated double quote in the broker command".into());
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash in the broker command".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_would() {
        assert_eq!(
            split_command(r#"broker --socket {socket} --name 'a b' "c \"d\"" e\ f"#),
            Ok(vec![
                "broker".into(),
                "--socket".into(),
                "{socket}".into(),
                "--name".into(),
                "a b".into(),
                "c \"d\"".into(),
                "e f".into()
            ])
        );
        assert!(split_command("a 'b").is_err());
        assert_eq!(split_command("  "), Ok(vec![]));
    }
}
