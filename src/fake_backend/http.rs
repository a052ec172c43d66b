//! The `http` behaviours: a small page that names the backend's service
//! and version, served on 127.0.0.1:0 by the crate's HTTP surface, and the
//! BackendHttpReady reports the behaviour calls for (V2R-5, V2K-7).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use html_escape::encode_text;

use super::behavior::Behavior;
use super::recorder::{Record, Recorder};
use super::run::FakeBackendError;
use crate::backend::LaunchEnv;
use crate::client::{ReadyOutcome, report_http_ready};
use crate::env::ProcessEnv;
use crate::http::{BindPlan, HttpReply, HttpSurface, Site};

/// The bound on each report's round trip.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The backend's own page: `GET /` names the service and version.
#[derive(Debug, Clone)]
pub struct BackendPage {
    /// The service it was launched for.
    pub service: String,
    /// The version it serves.
    pub version: String,
}

impl Site for BackendPage {
    fn answer(&self, method: &str, path: &str) -> HttpReply {
        if (method, path) != ("GET", "/") {
            return HttpReply::not_found();
        }
        let (service, version) = (encode_text(&self.service), encode_text(&self.version));
        HttpReply::html(format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{service} {version}</title></head><body>\
             <h1 id=\"backend\">{service} {version}</h1>\
             <p>fake backend <span id=\"service\">{service}</span> version \
             <span id=\"version\">{version}</span>, pid {pid}</p></body></html>\n",
            pid = std::process::id(),
        ))
    }
}

/// Starts the page on a thread of its own, then reports per `behavior`
/// from another, so neither delays the identity probe.
pub(crate) fn start(
    env: &LaunchEnv,
    behavior: Behavior,
    recorder: Arc<Recorder>,
) -> Result<(), FakeBackendError> {
    let page = BackendPage {
        service: env.service_name.clone(),
        version: env.service_version.clone(),
    };
    let port = serve_page(page)?;
    let reports = behavior.http_reports(port);
    thread::Builder::new()
        .name("fake-backend-http-report".into())
        .spawn(move || {
            for reported in reports {
                let outcome = match report_http_ready(&ProcessEnv, reported, REPORT_TIMEOUT) {
                    Ok(ReadyOutcome::Accepted) => "accepted".to_owned(),
                    Ok(ReadyOutcome::Rejected) => "rejected".to_owned(),
                    Ok(ReadyOutcome::NoBroker) => "no-broker".to_owned(),
                    Err(e) => format!("error: {e}"),
                };
                recorder.record(&Record::HttpReport {
                    serving: port,
                    reported,
                    outcome,
                });
            }
        })
        .map_err(|source| FakeBackendError::Io {
            what: "starting the HTTP report thread",
            source,
        })?;
    Ok(())
}

/// Serves `page` on 127.0.0.1:0 from a runtime on its own thread; returns
/// the bound port once it accepts.
fn serve_page(page: BackendPage) -> Result<u16, FakeBackendError> {
    let io = |what| move |source| FakeBackendError::Io { what, source };
    let (bound, port) = mpsc::channel();
    thread::Builder::new()
        .name("fake-backend-http".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = bound.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let plan = BindPlan {
                    addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    fallback_to_dynamic: false,
                };
                match HttpSurface::start_site(&plan, Arc::new(page), None) {
                    Ok(surface) => {
                        let _ = bound.send(Ok(surface.local_addr().port()));
                        // Serves until the process ends.
                        std::future::pending::<()>().await;
                        drop(surface);
                    }
                    Err(e) => {
                        let _ = bound.send(Err(std::io::Error::other(e.to_string())));
                    }
                }
            });
        })
        .map_err(io("starting the HTTP thread"))?;
    port.recv()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(io("serving the HTTP page"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_service_and_version_escaped() {
        let page = BackendPage {
            service: "web".into(),
            version: "1.0.0-http<x>".into(),
        };
        let reply = page.answer("GET", "/");
        assert_eq!(reply.status, 200);
        let body = String::from_utf8(reply.body).unwrap();
        assert!(
            body.contains("<h1 id=\"backend\">web 1.0.0-http&lt;x&gt;</h1>"),
            "{body}"
        );
        assert_eq!(page.answer("GET", "/x"), HttpReply::not_found());
        assert_eq!(page.answer("POST", "/"), HttpReply::not_found());
    }
}
