//! Headless Chromium (Debian's `chromium` package) loading a page as a user's browser would: the DOM after
//! load, every console message the page produced, every URL the browser requested, and a screenshot.
//!
//! Chromium runs with a throwaway profile, its background services off as far as flags allow, and no way off
//! the machine: every request that is not for loopback goes to a proxy address where nothing listens
//! (`127.0.0.1:9`), and no host name resolves (`--host-resolver-rules`), so nothing leaves loopback whatever a
//! page or the browser asks for. A few background requests of Chromium's own cannot be switched off by flags
//! (sign-in and component update checks); [`is_browser_service`] names them so tests can tell them from
//! requests a page made. Console messages and requests come from Chromium's verbose log on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use regex::Regex;

/// What loading a page produced.
#[derive(Debug, Clone)]
pub struct PageLoad {
    /// The serialized DOM after the load event.
    pub dom: String,
    /// Console messages, as `"text", source: URL`.
    pub console: Vec<String>,
    /// Every URL the browser requested, in order.
    pub requests: Vec<String>,
}

static CONSOLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r":CONSOLE[^\]]*\] (.*)$").expect("regex"));
static REQUEST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"NotifyBeforeURLRequest: (\S+)").expect("regex"));

/// The Chromium binary: `$CHROMIUM`, else `chromium` on the `PATH`.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("chromium")).find(|path| path.is_file()))
        .expect("no `chromium` on the PATH: install Debian's package (`apt-get install chromium`; .ci/run does)")
}

fn command(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        concat!(
            "--disable-features=NetworkTimeServiceQuerying,AutofillServerCommunication,",
            "OptimizationHints,MediaRouter,Translate"
        ),
        "--no-pings",
        "--metrics-recording-only",
        "--hide-scrollbars",
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Loads `url` and returns its DOM, console messages and requests.
pub fn load(url: &str) -> PageLoad {
    let profile = tempfile::tempdir().expect("a Chromium profile directory");
    let output = command(profile.path())
        .args(["--enable-logging=stderr", "--v=1", "--dump-dom", url])
        .output()
        .expect("run chromium");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed on {url}: {}\n{log}", output.status);
    assert!(!log.contains("Page load failed"), "chromium could not load {url}:\n{log}");
    let console = log.lines().filter_map(|line| CONSOLE.captures(line)).map(|found| found[1].to_owned()).collect();
    let requests = log.lines().filter_map(|line| REQUEST.captures(line)).map(|found| found[1].to_owned()).collect();
    PageLoad { dom: String::from_utf8_lossy(&output.stdout).into_owned(), console, requests }
}

/// Saves a screenshot of `url` at `width`×`height` CSS pixels to `path`.
pub fn screenshot(url: &str, path: &Path, (width, height): (u32, u32)) {
    let profile = tempfile::tempdir().expect("a Chromium profile directory");
    let output = command(profile.path())
        .arg(format!("--screenshot={}", path.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success() && path.is_file(),
        "chromium made no screenshot of {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether `url` stays on this machine: loopback addresses, or the browser's own `data:`, `about:` and
/// `chrome:` pages.
pub fn is_local(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else { return false };
    if matches!(scheme, "data" | "about" | "chrome" | "chrome-untrusted" | "blob") {
        return true;
    }
    let Some(authority) = rest.strip_prefix("//").map(|rest| rest.split(['/', '?', '#']).next().unwrap_or("")) else {
        return false;
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| &h[1..]).unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
}

/// Whether `url` is one of Chromium's own background requests that flags cannot switch off (account and
/// component update checks); they never leave the machine (see the module notes).
pub fn is_browser_service(url: &str) -> bool {
    ["https://accounts.google.com/", "https://update.googleapis.com/", "http://update.googleapis.com/"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_and_browser_pages_count_as_local() {
        for local in
            ["http://127.0.0.1:8080/", "http://[::1]:80/x", "data:text/html,hi", "http://127.9.0.1/", "about:blank"]
        {
            assert!(super::is_local(local), "{local}");
        }
        for remote in
            ["https://example.com/", "http://10.0.0.1/", "http://127.0.0.1.example.com/", "https://[2001:db8::1]/"]
        {
            assert!(!super::is_local(remote), "{remote}");
        }
    }
}
