//! The surface's answers as pure functions of (method, path, entries, now):
//! the status page (V2W-7, V2W-9, V2W-10, V2W-16), `/api/backends`
//! (V2W-18), `/health` (V2W-19) and the 404 (V2W-8).

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute, encode_text};
use serde::{Deserialize, Serialize};

use super::status::StatusEntry;

/// `Content-Type` of the page (V2W-7).
pub const CONTENT_TYPE_HTML: &str = "text/html; charset=utf-8";
/// `Content-Type` of `/health` and the 404 (V2W-8, V2W-19).
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";
/// `Content-Type` of `/api/backends` (V2W-18).
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// The page's text while nothing is listed (V2W-10).
pub const EMPTY_LISTING_TEXT: &str = "no backends registered yet";

/// One response, before the shell frames it (`Connection: close` and
/// `Content-Length` are the shell's, V2W-7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// 200 or 404.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

/// The `/api/backends` body (V2W-18, schema of spec §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiBackends {
    /// Always 1.
    pub schema_version: u32,
    /// When the listing was taken.
    pub generated_at_unix_ms: u64,
    /// Sorted by service, version, then `started_at_unix_ms`.
    pub backends: Vec<ApiBackend>,
}

/// One `/api/backends` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiBackend {
    /// The service name.
    pub service: String,
    /// The version it was launched for.
    pub version: String,
    /// The instance id (v1 §7.1).
    pub instance: String,
    /// The backend's pid.
    pub pid: Option<u32>,
    /// `starting`, `ready` or `gone`.
    pub state: String,
    /// A number exactly when `state` is `ready`.
    pub http_port: Option<u16>,
    /// Spawn time.
    pub started_at_unix_ms: u64,
}

/// Answers one request: `GET /`, `GET /api/backends`, `GET /health`, and
/// 404 for any other target or method (V2W-8). The query string is ignored.
pub fn route(method: &str, path: &str, mut entries: Vec<StatusEntry>, now_ms: u64) -> HttpReply {
    if method != "GET" {
        return HttpReply::not_found();
    }
    sort_entries(&mut entries);
    match path {
        "/" => HttpReply::html(page(&entries, now_ms)),
        "/api/backends" => HttpReply {
            status: 200,
            content_type: CONTENT_TYPE_JSON,
            body: api_backends(&entries, now_ms),
        },
        "/health" => HttpReply {
            status: 200,
            content_type: CONTENT_TYPE_TEXT,
            body: b"ok\n".to_vec(),
        },
        _ => HttpReply::not_found(),
    }
}

impl HttpReply {
    /// V2W-8's answer: 404 with `not found\n`.
    pub fn not_found() -> Self {
        Self {
            status: 404,
            content_type: CONTENT_TYPE_TEXT,
            body: b"not found\n".to_vec(),
        }
    }

    /// A 200 HTML page.
    pub fn html(body: String) -> Self {
        Self {
            status: 200,
            content_type: CONTENT_TYPE_HTML,
            body: body.into_bytes(),
        }
    }
}

/// Spec §8's order: service, version, then spawn time.
fn sort_entries(entries: &mut [StatusEntry]) {
    entries.sort_by(|a, b| {
        (&a.service, &a.version, a.started_at_unix_ms).cmp(&(
            &b.service,
            &b.version,
            b.started_at_unix_ms,
        ))
    });
}

fn api_backends(entries: &[StatusEntry], now_ms: u64) -> Vec<u8> {
    let body = ApiBackends {
        schema_version: 1,
        generated_at_unix_ms: now_ms,
        backends: entries
            .iter()
            .map(|e| ApiBackend {
                service: e.service.clone(),
                version: e.version.clone(),
                instance: e.instance.clone(),
                pid: e.pid,
                state: e.state.word().to_owned(),
                http_port: e.state.http_port(),
                started_at_unix_ms: e.started_at_unix_ms,
            })
            .collect(),
    };
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse}th,td{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}\
.state-ready{color:#080}.state-starting{color:#a60}.state-gone{color:#888}";

/// The status page a person reads: one row per backend with service,
/// version, instance, pid, state, uptime and, once ready, a link to the
/// backend's own page (V2W-16). Every text is escaped.
fn page(entries: &[StatusEntry], now_ms: u64) -> String {
    let mut html = String::with_capacity(1024 + entries.len() * 256);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta http-equiv=\"refresh\" content=\"5\">");
    html.push_str("<title>running-process broker: backends</title>");
    let _ = write!(html, "<style>{STYLE}</style></head><body>");
    html.push_str("<h1>running-process broker: backends</h1>\n");
    if entries.is_empty() {
        let _ = writeln!(html, "<p id=\"empty\">{EMPTY_LISTING_TEXT}</p>");
    } else {
        html.push_str("<table id=\"backends\"><thead><tr><th>Service</th><th>Version</th>");
        html.push_str("<th>Instance</th><th>PID</th><th>State</th><th>Uptime</th><th>Page</th>");
        html.push_str("</tr></thead><tbody>\n");
        for entry in entries {
            row(&mut html, entry, now_ms);
        }
        html.push_str("</tbody></table>\n");
    }
    html.push_str(
        "<p>Refreshes every 5 s. Also as JSON: <a href=\"/api/backends\">/api/backends</a>; \
         liveness: <a href=\"/health\">/health</a>.</p>\n",
    );
    html.push_str("</body></html>\n");
    html
}

fn row(html: &mut String, entry: &StatusEntry, now_ms: u64) {
    let state = entry.state.word();
    let pid = entry.pid.map(|p| p.to_string()).unwrap_or_default();
    let link = match entry.state.http_port() {
        Some(port) => format!("<a href=\"http://127.0.0.1:{port}/\">http://127.0.0.1:{port}/</a>"),
        None => String::new(),
    };
    let _ = writeln!(
        html,
        "<tr class=\"backend\" data-service=\"{}\" data-state=\"{state}\"><td>{}</td><td>{}</td>\
         <td>{}</td><td>{pid}</td><td class=\"state-{state}\">{state}</td><td>{}</td><td>{link}</td></tr>",
        encode_double_quoted_attribute(&entry.service),
        encode_text(&entry.service),
        encode_text(&entry.version),
        encode_text(&entry.instance),
        uptime(now_ms.saturating_sub(entry.started_at_unix_ms)),
    );
}

/// `3s`, `2m 05s`, `1h 02m 03s`, `4d 01h 02m`: how long it has run.
fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m {s:02}s"),
        _ => format!("{d}d {h:02}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::BackendState;

    fn entry(service: &str, version: &str, state: BackendState, started: u64) -> StatusEntry {
        StatusEntry {
            service: service.into(),
            version: version.into(),
            instance: format!("private:{service}"),
            pid: Some(4242),
            state,
            started_at_unix_ms: started,
        }
    }

    fn text(reply: &HttpReply) -> &str {
        std::str::from_utf8(&reply.body).unwrap_or_else(|e| panic!("body not UTF-8: {e}"))
    }

    #[test]
    fn empty_page_says_nothing_is_registered() {
        let reply = route("GET", "/", Vec::new(), 0);
        assert_eq!((reply.status, reply.content_type), (200, CONTENT_TYPE_HTML));
        assert!(text(&reply).contains(EMPTY_LISTING_TEXT));
        assert!(!text(&reply).contains("<table"));
    }

    #[test]
    fn page_lists_every_backend_with_state_uptime_and_a_link_only_when_ready() {
        let entries = vec![
            entry(
                "zccache",
                "1.0.0",
                BackendState::Ready { port: 49152 },
                1_000,
            ),
            entry("other", "2.0.0", BackendState::Starting, 60_000),
            entry("dead", "0.1.0", BackendState::Gone, 0),
        ];
        let reply = route("GET", "/", entries, 3_725_000);
        let page = text(&reply);
        assert!(!page.contains(EMPTY_LISTING_TEXT));
        assert!(page.contains("<a href=\"http://127.0.0.1:49152/\">"));
        assert_eq!(page.matches("<a href=\"http://").count(), 1, "{page}");
        assert!(page.contains("<td>1h 02m 04s</td>"), "{page}");
        for word in [
            "zccache", "1.0.0", "other", "starting", "dead", "gone", "ready",
        ] {
            assert!(page.contains(word), "{word} missing from {page}");
        }
        // sorted by service: dead, other, zccache
        let (d, o, z) = (page.find("dead"), page.find("other"), page.find("zccache"));
        assert!(d < o && o < z, "{page}");
    }

    #[test]
    fn page_escapes_every_text() {
        let entries = vec![entry("<script>", "\"&'", BackendState::Starting, 0)];
        let page = route("GET", "/", entries, 0);
        let page = text(&page);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(
            page.contains("&quot;&amp;") || page.contains("\"&amp;"),
            "{page}"
        );
    }

    #[test]
    fn api_backends_follows_the_schema_and_sorts() {
        let entries = vec![
            entry("b", "1.0.0", BackendState::Ready { port: 8080 }, 5),
            entry("a", "2.0.0", BackendState::Gone, 9),
            entry("a", "1.0.0", BackendState::Starting, 7),
        ];
        let reply = route("GET", "/api/backends", entries, 77);
        assert_eq!((reply.status, reply.content_type), (200, CONTENT_TYPE_JSON));
        let json: serde_json::Value =
            serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("not JSON: {e}"));
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["generated_at_unix_ms"], 77);
        let backends = json["backends"]
            .as_array()
            .unwrap_or_else(|| panic!("{json}"));
        let order: Vec<_> = backends
            .iter()
            .map(|b| (b["service"].as_str(), b["version"].as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (Some("a"), Some("1.0.0")),
                (Some("a"), Some("2.0.0")),
                (Some("b"), Some("1.0.0"))
            ]
        );
        assert_eq!(backends[0]["http_port"], serde_json::Value::Null);
        assert_eq!(backends[0]["state"], "starting");
        assert_eq!(backends[2]["http_port"], 8080);
        assert_eq!(backends[2]["pid"], 4242);
        assert_eq!(backends[2]["instance"], "private:b");
        assert_eq!(backends[2]["started_at_unix_ms"], 5);
    }

    #[test]
    fn health_is_ok() {
        let reply = route("GET", "/health", Vec::new(), 0);
        assert_eq!(
            reply,
            HttpReply {
                status: 200,
                content_type: CONTENT_TYPE_TEXT,
                body: b"ok\n".to_vec()
            }
        );
    }

    #[test]
    fn other_targets_and_methods_are_not_found() {
        for (method, path) in [
            ("GET", "/no-such-page"),
            ("POST", "/"),
            ("HEAD", "/health"),
            ("GET", "/api"),
        ] {
            let reply = route(method, path, Vec::new(), 0);
            assert_eq!(reply, HttpReply::not_found(), "{method} {path}");
            assert_eq!(text(&reply), "not found\n");
        }
    }

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(uptime(999), "0s");
        assert_eq!(uptime(125_000), "2m 05s");
        assert_eq!(uptime(90_061_000), "1d 01h 01m");
    }
}
