//! The services a front door's HTTP page lists (V2W-15): the names of
//! negotiated services whose definition declares `http_server`, shared
//! between the connections that add them and the page that reads them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

/// A thread-safe, cheaply cloned set of listed service names.
#[derive(Debug, Clone, Default)]
pub struct ListedServices(Arc<Mutex<BTreeSet<String>>>);

impl ListedServices {
    /// Lists `service` (once, however often it is negotiated).
    pub fn insert(&self, service: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service);
    }

    /// The listed names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_listed_once_sorted_and_shared_by_clones() {
        let listed = ListedServices::default();
        let page = listed.clone();
        for name in ["zc", "ab", "zc"] {
            listed.insert(name.into());
        }
        assert_eq!(page.names(), ["ab", "zc"]);
    }
}
