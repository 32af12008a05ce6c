//! A real browser for the console tests: Debian's headless Chromium,
//! driven over WebDriver by its ChromeDriver (both installed with apt when
//! missing, as the tamper tests install sqlite3).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Chromium and ChromeDriver, installed from Debian if missing.
pub fn install() {
    let have =
        || Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists();
    if have() {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !apt(&["install", "-y", "-qq", "chromium", "chromium-driver"]) {
        apt(&["update", "-qq"]);
        apt(&["install", "-y", "-qq", "chromium", "chromium-driver"]);
    }
    assert!(
        have(),
        "the console tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
    );
}

/// A headless Chromium session; the driver stops when this is dropped.
pub struct Browser {
    pub c: Client,
    driver: Child,
    shots: PathBuf,
    /// Every page's source the test looked at, to scan for secrets.
    pub seen: Vec<String>,
}

impl Drop for Browser {
    /// Stops chromedriver and every browser process it started (they share
    /// its process group): killing the driver alone left Chromium running
    /// after each test run.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.driver.id()))
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// A new browser; screenshots go to `shots`.
    pub async fn start(shots: &Path) -> Self {
        install();
        std::fs::create_dir_all(shots).unwrap();
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            // Its own process group, which Chromium's processes join, so
            // dropping the session stops them all.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                // Root in CI: Chromium's sandbox needs an unprivileged user.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Self {
            c,
            driver,
            shots: shots.to_path_buf(),
            seen: Vec::new(),
        }
    }

    /// End the WebDriver session (Chromium quits), then stop the driver.
    pub async fn quit(self) {
        let _ = self.c.clone().close().await;
    }

    pub async fn goto(&mut self, url: &str) -> String {
        self.c.goto(url).await.unwrap();
        self.source().await
    }

    /// The page's source now (kept for the secret scan).
    pub async fn source(&mut self) -> String {
        let s = self.c.source().await.unwrap();
        self.seen.push(s.clone());
        s
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.c.find(Locator::Css(css)).await.unwrap();
        e.clear().await.ok();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Wait (up to `secs`) for the page to hold `text`; its source.
    pub async fn wait_for(&mut self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.c.source().await.unwrap();
            if s.contains(text) {
                self.seen.push(s.clone());
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {text:?}:\n{s}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn url(&self) -> String {
        self.c.current_url().await.unwrap().to_string()
    }

    /// Save a screenshot as `name`.png.
    pub async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// The browser's cookies as a `Cookie` header (HttpOnly ones too).
    pub async fn cookie_header(&self) -> String {
        self.c
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
