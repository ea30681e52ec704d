//! A headless Chromium behind its own chromedriver on a free port, and the few things the
//! dashboard tests do with it: wait for what the page shows, type, click, take screenshots.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Width of the browser window; screenshots are taken at the page's full height.
const WIDTH: u32 = 1400;
const HEIGHT: u32 = 900;

/// The first of `names` found on `PATH`, or the path in the environment variable `var`.
fn find_program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Where the screenshots go: `target/ui-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap_or(tmp);
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    dir
}

/// A browser session; dropping it ends the session and stops chromedriver.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    port: u16,
    session: String,
    prefix: String,
    shots: usize,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (in dark mode if `dark`). Without them,
    /// CI fails with a message saying what to install; elsewhere the test skips, loudly.
    pub async fn start(prefix: &str, dark: bool) -> Option<Browser> {
        let driver = find_program("CHROMEDRIVER", &["chromedriver"]);
        let chrome = find_program(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let (Some(driver), Some(chrome)) = (driver, chrome) else {
            let msg = "the dashboard tests need Chromium and chromedriver \
                       (Debian: apt-get install chromium chromium-driver)";
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let port = free_port();
        let mut child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        if let Err(e) = wait_until_listening(port, &mut child) {
            let _ = child.kill();
            panic!("{} did not start: {e}", driver.display());
        }
        let mut args = vec![
            "--headless=new".to_owned(),
            // Root in a container has no user namespace for Chromium's sandbox.
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={WIDTH},{HEIGHT}"),
        ];
        if dark {
            args.push("--force-dark-mode".to_owned());
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({"binary": chrome, "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                let _ = child.kill();
                panic!("chromedriver could not start {}: {e}", chrome.display());
            }
        };
        let session = client.session_id().await.ok().flatten().unwrap_or_default();
        Some(Browser {
            client,
            driver: child,
            port,
            session,
            prefix: prefix.to_owned(),
            shots: 0,
        })
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Sets the location's hash, as a click on a link of the page does.
    pub async fn go_hash(&self, hash: &str) {
        self.run(
            "location.hash = arguments[0]; return null;",
            vec![json!(hash)],
        )
        .await;
    }

    /// Runs `script` in the page and returns its value.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.expect("script")
    }

    /// The element at `css`, waiting up to `secs` for it to exist and be shown.
    pub async fn find(&self, css: &str, secs: u64) -> Element {
        self.until(&format!("{css} is shown"), secs, || async {
            match self.client.find(Locator::Css(css)).await {
                Ok(el) if el.is_displayed().await.unwrap_or(false) => Some(el),
                _ => None,
            }
        })
        .await
    }

    /// Waits up to `secs` for the text of `css` to contain `want`; returns that text.
    pub async fn text_contains(&self, css: &str, want: &str, secs: u64) -> String {
        self.until(&format!("{css} shows {want:?}"), secs, || async {
            let el = self.client.find(Locator::Css(css)).await.ok()?;
            let text = el.text().await.ok()?;
            text.contains(want).then_some(text)
        })
        .await
    }

    /// Waits up to `secs` for `script` to return true.
    pub async fn holds(&self, what: &str, secs: u64, script: &str, args: Vec<Value>) {
        self.until(what, secs, || async {
            let v = self.client.execute(script, args.clone()).await.ok()?;
            (v == Value::Bool(true)).then_some(())
        })
        .await;
    }

    /// Polls `probe` every 200 ms until it gives a value; fails after `secs` saying `what`
    /// never happened and what the page showed. The bound is generous: it is not the
    /// assertion, the condition is.
    async fn until<T, F, Fut>(&self, what: &str, secs: u64, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            if Instant::now() > deadline {
                let page = self
                    .client
                    .execute("return document.body.innerText;", vec![])
                    .await
                    .unwrap_or_default();
                let shot = self.save("failure").await;
                panic!(
                    "{what}: not within {secs} s; the page ({}) showed:\n{}",
                    shot.display(),
                    page.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Types `text` into the element at `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css, 10).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// A property of the element at `css` (`value`, `readOnly` …), as text.
    pub async fn prop(&self, css: &str, name: &str) -> String {
        let el = self.find(css, 10).await;
        el.prop(name).await.expect("property").unwrap_or_default()
    }

    /// Clicks the element at `css`.
    pub async fn click(&self, css: &str) {
        self.find(css, 10).await.click().await.expect("click");
    }

    /// A screenshot of the whole page, saved as `<prefix>-<n>-<name>.png`; prints its path.
    pub async fn shot(&mut self, name: &str) -> PathBuf {
        self.shots += 1;
        let path = self.save(&format!("{:02}-{name}", self.shots)).await;
        println!("screenshot: {}", path.display());
        path
    }

    async fn save(&self, name: &str) -> PathBuf {
        // The window is the page's height plus what the window adds around the page; twice,
        // as a taller window can change the layout's height (panels that fill it).
        for _ in 0..2 {
            let height = self
                .client
                .execute(
                    "window.scrollTo(0, 0); \
                     return document.documentElement.scrollHeight \
                         + Math.max(0, window.outerHeight - window.innerHeight);",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .map_or(HEIGHT, |h| (h as u32).clamp(HEIGHT, 4000));
            let _ = self.client.set_window_size(WIDTH, height).await;
        }
        let png = self.client.screenshot().await.expect("screenshot");
        let _ = self.client.set_window_size(WIDTH, HEIGHT).await;
        let path = screenshot_dir().join(format!("{}-{name}.png", self.prefix));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver stop Chromium; killing only the driver
        // would leave the browser running.
        if !self.session.is_empty() {
            let _ = delete_session(self.port, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits for chromedriver to accept connections (bounded), or for it to exit.
fn wait_until_listening(port: u16, child: &mut Child) -> Result<(), String> {
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on port {port}"))
}

/// `DELETE /session/<id>` without an async runtime (Drop may run while unwinding).
fn delete_session(port: u16, session: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(())
}
