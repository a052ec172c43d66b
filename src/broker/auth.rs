//! Auth tokens (HEL-12, SEC-5): kept only as BLAKE3 digests and compared
//! in constant time.

use crate::wire::Refusal;

/// Auth tokens from configuration, kept only as BLAKE3 digests (SEC-5).
#[derive(Clone, Default)]
pub struct AuthTokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for AuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthTokens({} configured)", self.digests.len())
    }
}

impl AuthTokens {
    /// Digests the configured tokens.
    pub fn new<T: AsRef<[u8]>>(tokens: impl IntoIterator<Item = T>) -> Self {
        Self {
            digests: tokens
                .into_iter()
                .map(|t| *blake3::hash(t.as_ref()).as_bytes())
                .collect(),
        }
    }

    /// How many tokens are configured.
    pub fn count(&self) -> usize {
        self.digests.len()
    }

    /// HEL-12 with SEC-5: when tokens are configured, `presented` must match
    /// one. Fixed-length digests are compared in constant time against every
    /// configured token, so neither the token nor its length leaks.
    pub fn check(&self, presented: &[u8]) -> Result<(), Refusal> {
        if self.digests.is_empty() {
            return Ok(());
        }
        let presented = blake3::hash(presented);
        let mut matched = false;
        for digest in &self.digests {
            // blake3::Hash equality is constant-time.
            matched |= presented == blake3::Hash::from_bytes(*digest);
        }
        if matched {
            Ok(())
        } else {
            Err(Refusal::AuthenticationFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_tokens_match_exactly_and_never_when_absent() {
        let none = AuthTokens::default();
        assert!(none.check(b"").is_ok());
        let tokens = AuthTokens::new(["s3cret", "other"]);
        assert!(tokens.check(b"s3cret").is_ok());
        assert!(tokens.check(b"other").is_ok());
        for wrong in [&b""[..], b"s3cre", b"s3cret!", b"S3CRET"] {
            assert_eq!(tokens.check(wrong), Err(Refusal::AuthenticationFailed));
        }
        assert!(!format!("{tokens:?}").contains("s3cret"));
    }

    #[test]
    fn the_count_is_reported_never_the_tokens() {
        let tokens = AuthTokens::new(["a", "b"]);
        assert_eq!(tokens.count(), 2);
        assert_eq!(format!("{tokens:?}"), "AuthTokens(2 configured)");
    }
}
