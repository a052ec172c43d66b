//! The services a front door's HTTP page lists (V2W-15): each negotiated
//! service whose definition declares `http_server`, with when it was first
//! negotiated, shared between the connections that add them and the page
//! that reads them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::http::{BackendState, StatusEntry, StatusSource};

/// One listed service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedService {
    /// The service name.
    pub service: String,
    /// Its first negotiated Hello, Unix milliseconds.
    pub first_negotiated_unix_ms: u64,
}

/// A thread-safe, cheaply cloned list of services.
#[derive(Debug, Clone, Default)]
pub struct ListedServices(Arc<Mutex<BTreeMap<String, u64>>>);

impl ListedServices {
    /// Lists `service`, negotiated at `now_unix_ms`; a service listed
    /// before keeps its first time.
    pub fn insert(&self, service: String, now_unix_ms: u64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(service)
            .or_insert(now_unix_ms);
    }

    /// The listed services, sorted by name.
    pub fn entries(&self) -> Vec<ListedService> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(service, &at)| ListedService {
                service: service.clone(),
                first_negotiated_unix_ms: at,
            })
            .collect()
    }
}

/// The page of a front door (V2W-9, V2W-15): one entry per listed
/// service; a front door knows no version, instance, pid or port, so each
/// stays `starting`.
impl StatusSource for ListedServices {
    fn entries(&self) -> Vec<StatusEntry> {
        ListedServices::entries(self)
            .into_iter()
            .map(|listed| StatusEntry {
                service: listed.service,
                version: String::new(),
                instance: String::new(),
                pid: None,
                state: BackendState::Starting,
                started_at_unix_ms: listed.first_negotiated_unix_ms,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_listed_once_with_their_first_time_and_shared_by_clones() {
        let listed = ListedServices::default();
        let page = listed.clone();
        for (name, at) in [("zc", 3), ("ab", 5), ("zc", 9)] {
            listed.insert(name.into(), at);
        }
        let entry = |service: &str, at| ListedService {
            service: service.into(),
            first_negotiated_unix_ms: at,
        };
        assert_eq!(page.entries(), [entry("ab", 5), entry("zc", 3)]);
    }
}
