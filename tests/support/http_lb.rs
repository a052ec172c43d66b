//! A launching broker (`serve --http-port dynamic`) with a v2 `web` service
//! served by the fake backend, and an HTTP client, for tests/http_surface.rs
//! and tests/browser.rs. Included with `#[path]` beside `support`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use broker_conformance::definitions::{
    ServiceDefinitionBuilder, v1_to_v2, write_service_definition_v2,
};
use broker_conformance::fake_backend::{Record, read_records, records_dir_for};
use broker_conformance::http::{ApiBackend, ApiBackends, read_discovery_file};
use broker_conformance::paths::launching_http_port_file;
use broker_conformance::proto::v2::HttpServerCapability;

use crate::support::broker::{hello, install_fake_backend, negotiate, short_tempdir};
use crate::support::serve::{ServeProcess, serve_command};

/// How long any awaited state may take under a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running launching broker with its HTTP surface.
pub struct HttpBroker {
    pub serve: ServeProcess,
    pub socket: PathBuf,
    /// `http://<ip>:<port>` from the discovery file (V2W-14).
    pub base: String,
    /// Where the fake backends record.
    pub records: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts `serve --http-port dynamic` with `web` (declaring `http_server`)
/// and `plain` (a v2 definition without it) served by the fake backend.
pub fn start() -> HttpBroker {
    let dir = short_tempdir();
    let defs = dir.path().join("defs");
    std::fs::create_dir(&defs).expect("defs");
    std::fs::set_permissions(&defs, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod defs");
    let (binary, bin_dir) = install_fake_backend(dir.path(), "web");
    for (service, http) in [("web", true), ("plain", false)] {
        let def = ServiceDefinitionBuilder::new(service)
            .binary_path(&binary)
            .per_version_binary_dir(&bin_dir)
            .build()
            .expect("valid definition");
        let http = http.then(HttpServerCapability::default);
        write_service_definition_v2(&defs, &v1_to_v2(def, http)).expect("definition written");
    }
    let socket = dir.path().join("b.sock");
    let mut command = serve_command(&socket, &defs);
    command.args(["--http-port", "dynamic", "--stop-backends-on-exit"]);
    // The surface binds with the control socket, before "serving" is logged.
    let serve = ServeProcess::start(command, &socket);
    let addr = read_discovery_file(&launching_http_port_file(&socket))
        .expect("discovery file readable")
        .expect("discovery file written before the broker serves");
    HttpBroker {
        serve,
        socket,
        base: format!("http://{addr}"),
        records: records_dir_for(&binary),
        _dir: dir,
    }
}

impl HttpBroker {
    /// A Hello for `service`@`version` that must negotiate (it launches).
    pub fn launch(&self, service: &str, version: &str) {
        negotiate(&self.socket, &hello(service, version));
    }

    /// `/api/backends` now.
    pub fn backends(&self) -> Vec<ApiBackend> {
        let (status, body) = get(&format!("{}/api/backends", self.base));
        assert_eq!(status, 200, "{body}");
        let api: ApiBackends = serde_json::from_str(&body).expect("schema of spec section 8");
        assert_eq!(api.schema_version, 1);
        api.backends
    }

    /// Waits until the entry of `version` has `state`, or fails.
    pub fn wait_for_state(&self, version: &str, state: &str) -> ApiBackend {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let backends = self.backends();
            if let Some(b) = backends
                .iter()
                .find(|b| b.version == version && b.state == state)
            {
                return b.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {version} backend in state {state}: {backends:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the fake backend of `version` has recorded `n` HTTP
    /// reports, and returns them.
    pub fn wait_for_reports(&self, version: &str, n: usize) -> Vec<Record> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let reports = reports_for(&self.records, version);
            if reports.len() >= n {
                return reports;
            }
            assert!(
                Instant::now() < deadline,
                "{version}: {} of {n} reports",
                reports.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The environment a fake backend of `version` started with.
    pub fn environment_of(&self, version: &str) -> Vec<(String, String)> {
        records_of(&self.records, version)
            .into_iter()
            .find_map(|r| match r {
                Record::Started { environment, .. } => Some(environment),
                _ => None,
            })
            .expect("a Started record")
    }
}

fn records_of(dir: &Path, version: &str) -> Vec<Record> {
    read_records(dir)
        .expect("records")
        .into_iter()
        .map(|(_, records)| records)
        .find(|records| {
            records
                .iter()
                .any(|r| matches!(r, Record::Started { version: v, .. } if v == version))
        })
        .unwrap_or_default()
}

fn reports_for(dir: &Path, version: &str) -> Vec<Record> {
    records_of(dir, version)
        .into_iter()
        .filter(|r| matches!(r, Record::HttpReport { .. }))
        .collect()
}

/// One GET through a real HTTP client: (status, body).
pub fn get(url: &str) -> (u16, String) {
    let (status, _, body) = get_with_type(url);
    (status, body)
}

/// One GET: (status, Content-Type, body).
pub fn get_with_type(url: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(PATIENCE))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    (status, content_type, body)
}
