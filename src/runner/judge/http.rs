//! Judging the HTTP surface (v2 spec §8) without I/O: a response the HTTP
//! client read against an `expect_http` step, and the content of a
//! discovery file (`<ip>:<port>\n`, V2W-6; read per V2K-5).

use std::net::{IpAddr, SocketAddr};

use super::{Binding, Judgement};
use crate::runner::matching::{Actual, Captures};
use crate::runner::model::HttpSpec;

/// What the HTTP client read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header lines, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (lower-case).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Status, headers and the start of the body, for failure details.
    fn summary(&self) -> String {
        let mut out = format!("status {}\n", self.status);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\n"));
        }
        let body = String::from_utf8_lossy(&self.body);
        out.push_str(&body.chars().take(400).collect::<String>());
        out
    }
}

/// Judges `response` against `spec`: status, headers by lower-case name,
/// `Content-Length` equal to the body's size whenever it is sent, the body
/// as text, and JSON pointers into it.
pub(crate) fn judge_http(
    spec: &HttpSpec,
    response: &HttpResponse,
    captures: &Captures,
) -> Judgement {
    let mut judgement = Judgement {
        received: response.summary(),
        ..Judgement::default()
    };
    if let Some(status) = spec.status
        && status != response.status
    {
        judgement.problems.push(format!(
            "status: expected {status}, got {}",
            response.status
        ));
    }
    if let Some(length) = response.header("content-length")
        && length.trim().parse::<usize>().ok() != Some(response.body.len())
    {
        judgement.problems.push(format!(
            "content-length: {length:?}, but the body has {} bytes",
            response.body.len()
        ));
    }
    for (name, expected) in &spec.headers {
        let actual = response
            .header(&name.to_ascii_lowercase())
            .map_or(Actual::Absent, |v| Actual::Str(v.to_owned()));
        judgement.check(
            &format!("header {name}"),
            Ok(actual),
            expected,
            Binding::Must,
            captures,
        );
    }
    let text = Actual::Str(String::from_utf8_lossy(&response.body).into_owned());
    for (body, binding) in [
        (&spec.body, Binding::Must),
        (&spec.ref_body, Binding::RefOnly),
    ] {
        if let Some(expected) = body {
            judgement.check("body", Ok(text.clone()), expected, binding, captures);
        }
    }
    if !spec.json.is_empty() || !spec.ref_json.is_empty() {
        match serde_json::from_slice::<serde_json::Value>(&response.body) {
            Ok(json) => {
                judgement.json_pointers(&json, &spec.json, Binding::Must, captures);
                judgement.json_pointers(&json, &spec.ref_json, Binding::RefOnly, captures);
            }
            Err(e) => judgement.problems.push(format!("body: not JSON ({e})")),
        }
    }
    judgement
}

/// The address a discovery file names: the content split at the last `:`,
/// `[`…`]` around the address stripped (V2K-5).
pub(crate) fn discovery_address(content: &str) -> Result<SocketAddr, String> {
    let line = content.trim_end_matches('\n');
    let (ip, port) = line
        .rsplit_once(':')
        .ok_or_else(|| format!("{content:?} has no `:`"))?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    let ip: IpAddr = ip
        .parse()
        .map_err(|e| format!("{content:?}: address {ip:?}: {e}"))?;
    let port: u16 = port
        .parse()
        .map_err(|e| format!("{content:?}: port {port:?}: {e}"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::model::Matcher;

    fn spec(toml_text: &str) -> HttpSpec {
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn page(body: &str, length: Option<usize>) -> HttpResponse {
        let mut headers = vec![(
            "content-type".to_owned(),
            "text/html; charset=utf-8".to_owned(),
        )];
        if let Some(n) = length {
            headers.push(("content-length".to_owned(), n.to_string()));
        }
        HttpResponse {
            status: 200,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn status_headers_and_body_are_checked() {
        let s = spec(
            "status = 200\nheaders = { content-type = \"text/html; charset=utf-8\" }\nbody = { contains = \"zccache\" }",
        );
        let ok = judge_http(&s, &page("<p>zccache</p>", Some(14)), &Captures::default());
        assert!(ok.failure().is_none(), "{:?}", ok.problems);
        let bad = judge_http(&s, &page("<p>other</p>", Some(12)), &Captures::default());
        assert_eq!(bad.problems.len(), 1, "{:?}", bad.problems);
        let s404 = spec("status = 404");
        assert_eq!(
            judge_http(&s404, &page("", None), &Captures::default()).problems,
            ["status: expected 404, got 200"]
        );
    }

    #[test]
    fn a_content_length_that_is_not_the_body_size_fails() {
        let s = spec("status = 200");
        let j = judge_http(&s, &page("abc", Some(4)), &Captures::default());
        assert_eq!(
            j.problems,
            ["content-length: \"4\", but the body has 3 bytes"]
        );
    }

    #[test]
    fn json_pointers_read_the_body_and_ref_checks_only_note() {
        let s =
            spec("json = { \"/schema_version\" = 1 }\nref_json = { \"/backends\" = { len = 1 } }");
        let body = "{\"schema_version\":1,\"backends\":[]}";
        let j = judge_http(&s, &page(body, None), &Captures::default());
        assert!(j.problems.is_empty(), "{:?}", j.problems);
        assert_eq!(j.ref_misses.len(), 1);
        let not_json = judge_http(&s, &page("<html>", None), &Captures::default());
        assert!(not_json.problems[0].starts_with("body: not JSON"));
        let _ = Matcher::Any;
    }

    #[test]
    fn discovery_files_split_at_the_last_colon() {
        assert_eq!(
            discovery_address("127.0.0.1:8080\n"),
            Ok("127.0.0.1:8080".parse().unwrap_or_else(|e| panic!("{e}")))
        );
        assert_eq!(
            discovery_address("::1:39129\n"),
            Ok("[::1]:39129".parse().unwrap_or_else(|e| panic!("{e}")))
        );
        assert_eq!(
            discovery_address("[::1]:5\n"),
            Ok("[::1]:5".parse().unwrap_or_else(|e| panic!("{e}")))
        );
        assert!(discovery_address("nonsense").is_err());
        assert!(discovery_address("127.0.0.1:99999").is_err());
    }
}
