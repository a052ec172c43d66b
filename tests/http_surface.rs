//! The launching broker's HTTP surface end to end (spec §8, §9): a real
//! `serve --http-port dynamic`, fake backends of the `http` family, a real
//! HTTP client, and raw TCP clients for the idle and header-less cases.

#![cfg(unix)]

#[path = "support/http_lb.rs"]
mod http_lb;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use broker_conformance::client::get_broker_http_endpoint;
use broker_conformance::http::EMPTY_LISTING_TEXT;
use broker_conformance::paths::launching_http_port_file;
use broker_conformance::wire::env_vars;
use http_lb::{PATIENCE, get, get_with_type};
use support::serve::{ServeProcess, binary, serve_command, wait_child};

#[test]
fn a_launched_http_backend_is_listed_ready_with_a_link_to_its_own_page() {
    let broker = http_lb::start();
    let (status, page) = get(&format!("{}/", broker.base));
    assert_eq!(status, 200);
    assert!(page.contains(EMPTY_LISTING_TEXT), "V2W-10: {page}");
    broker.launch("web", "1.0.0-http");
    let entry = broker.wait_for_state("1.0.0-http", "ready");
    assert_eq!(
        (entry.service.as_str(), entry.instance.as_str()),
        ("web", "private:web")
    );
    let port = entry.http_port.expect("V2W-18: a port exactly when ready");
    let (_, page) = get(&format!("{}/", broker.base));
    let link = format!("<a href=\"http://127.0.0.1:{port}/\">");
    assert!(page.contains(&link), "V2W-16: {page}");
    assert!(!page.contains(EMPTY_LISTING_TEXT));
    let (status, own) = get(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, 200);
    assert!(own.contains("web 1.0.0-http"), "the backend's page: {own}");
    // V2R-7: the backend got the control pipe.
    let env = broker.environment_of("1.0.0-http");
    let pipe = env.iter().find(|(k, _)| k == env_vars::V2_CONTROL_PIPE);
    assert_eq!(
        pipe.map(|(_, v)| v.as_str()),
        Some(broker.socket.to_str().expect("UTF-8 path"))
    );
    // V2R-4: the RPC names the port of the discovery file.
    let endpoint = get_broker_http_endpoint(&broker.socket, PATIENCE).expect("RPC answered");
    assert_eq!(
        format!("http://127.0.0.1:{}", endpoint.port),
        broker.base,
        "V2W-14"
    );
    assert_eq!(endpoint.pid, broker.serve.pid());
}

#[test]
fn a_backend_without_http_server_is_not_listed_and_gets_no_control_pipe() {
    let broker = http_lb::start();
    broker.launch("plain", "1.0.0");
    broker.launch("web", "1.0.0-http.never");
    broker.wait_for_state("1.0.0-http.never", "starting");
    let listed: Vec<_> = broker.backends().into_iter().map(|b| b.service).collect();
    assert_eq!(listed, ["web"], "V2W-15");
    let env = broker.environment_of("1.0.0");
    assert!(
        !env.iter().any(|(k, _)| k == env_vars::V2_CONTROL_PIPE),
        "V2R-7: {env:?}"
    );
}

#[test]
fn misreports_are_refused_and_change_nothing_and_a_second_report_is_accepted() {
    let broker = http_lb::start();
    for version in [
        "1.0.0-http.port.0",
        "1.0.0-http.port.too.big",
        "1.0.0-http.twice",
    ] {
        broker.launch("web", version);
    }
    for (version, n, expected) in [
        ("1.0.0-http.port.0", 1, ["rejected"].as_slice()),
        ("1.0.0-http.port.too.big", 1, &["rejected"]),
        ("1.0.0-http.twice", 2, &["accepted", "accepted"]),
    ] {
        let outcomes: Vec<String> = broker
            .wait_for_reports(version, n)
            .into_iter()
            .filter_map(|r| match r {
                broker_conformance::fake_backend::Record::HttpReport { outcome, .. } => {
                    Some(outcome)
                }
                _ => None,
            })
            .collect();
        assert_eq!(outcomes, expected, "{version}");
    }
    broker.wait_for_state("1.0.0-http.twice", "ready");
    for version in ["1.0.0-http.port.0", "1.0.0-http.port.too.big"] {
        let entry = broker.wait_for_state(version, "starting");
        assert_eq!(entry.http_port, None, "V2R-6: {version}");
    }
}

#[test]
fn a_report_from_a_process_the_broker_did_not_launch_is_refused() {
    let broker = http_lb::start();
    let output = Command::new(binary())
        .args(["http-ready", "--port", "8080", "--control-pipe"])
        .arg(&broker.socket)
        .output()
        .expect("run http-ready");
    assert_eq!(output.status.code(), Some(1), "V2R-6: {output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("rejected"));
    assert!(broker.backends().is_empty());
}

#[test]
fn a_dead_backend_turns_gone_and_a_new_launch_replaces_it() {
    let broker = http_lb::start();
    broker.launch("web", "1.0.0-http");
    let ready = broker.wait_for_state("1.0.0-http", "ready");
    let pid = ready.pid.expect("pid");
    broker_conformance::sys::kill(pid).expect("kill the backend");
    let gone = broker.wait_for_state("1.0.0-http", "gone");
    assert_eq!((gone.pid, gone.http_port), (Some(pid), None), "V2W-16");
    let (_, page) = get(&format!("{}/", broker.base));
    assert!(page.contains("gone"), "{page}");
    assert!(
        !page.contains("<a href=\"http://127.0.0.1:"),
        "no link when gone: {page}"
    );
    broker.launch("web", "1.0.0-http");
    let again = broker.wait_for_state("1.0.0-http", "ready");
    assert_ne!(again.pid, Some(pid));
    assert_eq!(
        broker.backends().len(),
        1,
        "V2W-17: the gone entry was replaced"
    );
}

#[test]
fn many_clients_at_once_and_idle_ones_never_block_the_page() {
    let broker = http_lb::start();
    let addr = broker.base.trim_start_matches("http://").to_owned();
    // Idle clients: connected, silent, held open for the whole test (V2W-12).
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(&addr).expect("idle connect"))
        .collect();
    let workers: Vec<_> = (0..32)
        .map(|i| {
            let base = broker.base.clone();
            std::thread::spawn(move || {
                let path = ["/", "/health", "/api/backends", "/no-such-page"][i % 4];
                get_with_type(&format!("{base}{path}"))
            })
        })
        .collect();
    for (i, worker) in workers.into_iter().enumerate() {
        let (status, content_type, body) = worker.join().expect("client thread");
        match i % 4 {
            0 => assert_eq!(
                (status, content_type.as_str()),
                (200, "text/html; charset=utf-8")
            ),
            1 => assert_eq!((status, body.as_str()), (200, "ok\n"), "V2W-19"),
            2 => assert_eq!((status, content_type.as_str()), (200, "application/json")),
            _ => assert_eq!((status, body.as_str()), (404, "not found\n"), "V2W-8"),
        }
    }
    drop(idle);
}

#[test]
fn a_header_less_request_is_answered_without_a_half_close_and_the_server_closes() {
    let broker = http_lb::start();
    let addr = broker.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    // No shutdown(Write): V2W-11. read_to_end ends only when the server closes (V2W-7).
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("the whole answer, then EOF");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1."), "{reply}");
    assert!(reply.contains(" 200 OK\r\n"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close\r\n"),
        "{reply}"
    );
}

#[test]
fn without_the_flag_nothing_listens_and_a_clean_exit_removes_the_file() {
    let dir = support::broker::short_tempdir();
    let defs = dir.path().join("defs");
    std::fs::create_dir(&defs).expect("defs");
    let socket = dir.path().join("b.sock");
    let plain = ServeProcess::start(serve_command(&socket, &defs), &socket);
    assert!(!launching_http_port_file(&socket).exists(), "V2W-1");
    let endpoint = get_broker_http_endpoint(&socket, PATIENCE).expect("RPC answered");
    assert_eq!(endpoint.port, 0, "V2R-4: no surface");
    drop(plain);

    let broker = http_lb::start();
    let file = launching_http_port_file(&broker.socket);
    assert!(file.exists());
    let mut serve = broker.serve;
    broker_conformance::sys::terminate(serve.pid()).expect("SIGTERM");
    let status = wait_child(&mut serve.child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert!(!file.exists(), "V2W-6: removed on a clean exit");
}

#[test]
fn an_invalid_http_port_is_a_usage_error() {
    let dir = support::broker::short_tempdir();
    for bad in ["65536", "auto", "-1"] {
        let mut command = serve_command(&dir.path().join("b.sock"), dir.path());
        command.args(["--http-port", bad]);
        let (status, stderr) = support::serve::run_to_end(command, PATIENCE);
        assert_eq!(status.code(), Some(2), "V2W-2: {bad}: {stderr}");
    }
}

#[test]
fn http_endpoint_prints_the_file_and_the_rpc_answer() {
    let broker = http_lb::start();
    let output = Command::new(binary())
        .args(["http-endpoint", "--socket"])
        .arg(&broker.socket)
        .output()
        .expect("run http-endpoint");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let port = broker.base.rsplit(':').next().expect("a port");
    assert!(
        stdout.contains(&format!("file: {}/", broker.base)),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("rpc: port {port} ")), "{stdout}");
}

#[test]
fn an_embedded_broker_serves_the_surface_from_its_start() {
    use broker_conformance::broker::EmbeddedBroker;
    use broker_conformance::env::MapEnv;
    use broker_conformance::http::{BindPlan, HttpPortSpec};
    let plain = EmbeddedBroker::start().expect("embedded broker");
    assert_eq!(plain.http_port(), None, "V2W-1");
    let plan = BindPlan::resolve(HttpPortSpec::Dynamic, &MapEnv::default());
    let broker = EmbeddedBroker::builder()
        .http(plan)
        .start()
        .expect("embedded broker with HTTP");
    let port = broker.http_port().expect("bound by start()");
    let file = launching_http_port_file(broker.endpoint());
    assert_eq!(
        std::fs::read_to_string(&file).expect("discovery file"),
        format!("127.0.0.1:{port}\n"),
        "V2W-6"
    );
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/health")),
        (200, "ok\n".to_owned())
    );
    let endpoint = get_broker_http_endpoint(broker.endpoint(), PATIENCE).expect("RPC");
    assert_eq!(endpoint.port, port, "V2R-4");
    broker.shutdown().expect("clean shutdown");
    assert!(!file.exists(), "V2W-6: removed on a clean exit");
}
