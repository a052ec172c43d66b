//! The status page in a real headless browser (issue 12, spec V2W-16):
//! `serve --http-port dynamic`, a Hello that launches an `http` fake
//! backend, the page rendered by Debian's chromium shows it ready, and the
//! link the browser rendered loads the backend's own page naming its
//! service and version.
//!
//! Chromium is found on PATH (`.ci/install-chromium` installs it). Without
//! it the test fails when `CI` is set and is skipped otherwise.

#![cfg(unix)]

#[path = "support/http_lb.rs"]
mod http_lb;
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::serve::wait_child;

/// The most one page load may take on a loaded machine.
const LOAD_BOUND: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The DOM chromium rendered for `url` (`--headless --dump-dom`).
fn rendered_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout piped");
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut dom);
        dom
    });
    let status = wait_child(&mut child, LOAD_BOUND);
    assert!(status.success(), "chromium failed on {url}: {status}");
    reader.join().expect("reader")
}

/// The `href` of the first link in the rendered row of a ready `service`.
fn ready_link(dom: &str, service: &str) -> Option<String> {
    let row_start = dom.find(&format!(
        "<tr class=\"backend\" data-service=\"{service}\" data-state=\"ready\">"
    ))?;
    let row = &dom[row_start..];
    let row = &row[..row.find("</tr>")?];
    let href = row.find("<a href=\"")? + "<a href=\"".len();
    Some(row[href..][..row[href..].find('"')?].to_owned())
}

#[test]
fn the_page_shows_a_ready_backend_and_its_link_opens_the_backends_page() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed; run .ci/install-chromium"
        );
        eprintln!("SKIPPED: chromium is not installed (run .ci/install-chromium)");
        return;
    };
    let broker = http_lb::start();
    let empty = rendered_dom(&browser, &format!("{}/", broker.base));
    assert!(empty.contains("no backends registered yet"), "{empty}");

    broker.launch("web", "1.0.0-http");
    broker.wait_for_state("1.0.0-http", "ready");
    let page = rendered_dom(&browser, &format!("{}/", broker.base));
    assert!(page.contains("<td>web</td>"), "{page}");
    assert!(page.contains("<td>1.0.0-http</td>"), "{page}");
    let link = ready_link(&page, "web").unwrap_or_else(|| panic!("no ready link: {page}"));
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");

    let own = rendered_dom(&browser, &link);
    assert!(
        own.contains("<h1 id=\"backend\">web 1.0.0-http</h1>"),
        "{own}"
    );
    println!("status page as chromium rendered it:\n{page}");
    println!("the backend's page behind {link}:\n{own}");
}
