//! Reading environment variables through one seam, so configuration code is
//! testable without touching the process environment, and so every reader
//! agrees that an empty variable counts as unset.

use std::collections::BTreeMap;

/// A source of environment variables.
pub trait EnvSource {
    /// The raw value of `name`, `None` when unset.
    fn raw(&self, name: &str) -> Option<String>;

    /// The value of `name`; `None` when unset **or empty**.
    fn var(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|v| !v.is_empty())
    }
}

/// The real process environment. Values that are not UTF-8 count as unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn raw(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests and for building child environments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapEnv(pub BTreeMap<String, String>);

impl MapEnv {
    /// An environment holding `pairs`.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl EnvSource for MapEnv {
    fn raw(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset() {
        let env = MapEnv::from_pairs([("A", ""), ("B", "x")]);
        assert_eq!(env.raw("A").as_deref(), Some(""));
        assert_eq!(env.var("A"), None);
        assert_eq!(env.var("B").as_deref(), Some("x"));
        assert_eq!(env.var("C"), None);
    }
}
