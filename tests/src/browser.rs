//! A real headless Chromium for the web UI tests, driven over WebDriver (thirtyfour and
//! Debian's `chromedriver`). Each [`Browser`] starts its own chromedriver on a free port and
//! saves screenshots of the pages a test visits under
//! `$CARGO_TARGET_TMPDIR/screenshots/<test>/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use thirtyfour::prelude::*;
use tokio::process::{Child, Command};

/// Where Debian puts them (`apt-get install chromium chromium-driver`; `scripts/test` does).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium session.
pub struct Browser {
    pub driver: WebDriver,
    _chromedriver: Child,
    shots: PathBuf,
    n: usize,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; screenshots go to `shots_dir/<test>/`.
    pub async fn start(shots_dir: &std::path::Path, test: &str) -> WebDriverResult<Self> {
        crate::init_crypto();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {CHROMEDRIVER} ({e}); install Debian's chromium and chromium-driver (scripts/test does)")
            });
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM)?;
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
        ] {
            caps.add_arg(arg)?;
        }
        // chromedriver answers once it listens.
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let driver = loop {
            match WebDriver::new(&url, caps.clone()).await {
                Ok(d) => break d,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    // Retrying the connection while chromedriver starts.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let shots = shots_dir.join(test);
        // This run's pages only.
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots)?;
        Ok(Self {
            driver,
            _chromedriver: chromedriver,
            shots,
            n: 0,
        })
    }

    /// Saves a screenshot of the current page as `NN-name.png`; returns its path.
    pub async fn shot(&mut self, name: &str) -> WebDriverResult<PathBuf> {
        self.n += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.n));
        self.driver.screenshot(&path).await?;
        Ok(path)
    }

    /// Types `value` into the input named `name` (clearing it first).
    pub async fn fill(&self, name: &str, value: &str) -> WebDriverResult<()> {
        let input = self.driver.find(By::Name(name)).await?;
        input.clear().await?;
        input.send_keys(value).await
    }

    /// Clicks the element the CSS selector finds (a checkbox, a radio button, a button).
    pub async fn click(&self, css: &str) -> WebDriverResult<()> {
        self.driver.find(By::Css(css)).await?.click().await
    }

    /// Clicks the first button with this text.
    pub async fn click_button(&self, text: &str) -> WebDriverResult<()> {
        self.driver
            .find(By::XPath(format!("//button[normalize-space()='{text}']")))
            .await?
            .click()
            .await
    }

    /// The text of the element with this id, once the page shows it (up to 30 s: a form's
    /// answer is a new page).
    pub async fn text_of(&self, id: &str) -> WebDriverResult<String> {
        self.driver
            .query(By::Id(id))
            .wait(Duration::from_secs(30), Duration::from_millis(50))
            .first()
            .await?
            .text()
            .await
    }

    /// Waits (up to 30 s) until the page's text contains `text`.
    pub async fn wait_for_text(&self, text: &str) -> WebDriverResult<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The page may be replaced while it is read (a stale element): read it again.
            let body = match self.driver.find(By::Tag("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if body.contains(text) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::FatalError(format!(
                    "the page never showed `{text}`; it shows: {body}"
                )));
            }
            // Polling the page while it loads.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a script in the page and returns its value.
    pub async fn js(&self, script: &str) -> WebDriverResult<serde_json::Value> {
        Ok(self
            .driver
            .execute(script, Vec::new())
            .await?
            .json()
            .clone())
    }

    /// Answers the confirmation dialog the last click opened (it opens before the click
    /// returns; the loop only bridges the driver's round trip); returns its question.
    pub async fn confirm(&self, accept: bool) -> WebDriverResult<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.driver.get_alert_text().await {
                Ok(text) => {
                    if accept {
                        self.driver.accept_alert().await?;
                    } else {
                        self.driver.dismiss_alert().await?;
                    }
                    return Ok(text);
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                // Polling for the dialog.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The class of the element with this id, once the page shows it.
    pub async fn class_of(&self, id: &str) -> WebDriverResult<String> {
        Ok(self
            .driver
            .query(By::Id(id))
            .wait(Duration::from_secs(30), Duration::from_millis(50))
            .first()
            .await?
            .class_name()
            .await?
            .unwrap_or_default())
    }

    /// Asserts that at the current window size the page does not scroll sideways and the
    /// header takes less than a quarter of the height.
    pub async fn fits(&self, what: &str) -> WebDriverResult<()> {
        let m = self
            .js(
                "return {scroll: document.documentElement.scrollWidth, width: window.innerWidth, \
                 header: document.querySelector('header').getBoundingClientRect().height, \
                 height: window.innerHeight};",
            )
            .await?;
        let n = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        assert!(n("scroll") <= n("width"), "{what} overflows: {m}");
        assert!(
            n("header") < n("height") / 4.0,
            "{what}: the menu takes {} of {} px",
            n("header"),
            n("height")
        );
        Ok(())
    }

    /// Loads `url` again until the element `id` shows (up to 60 s: background work such as
    /// a push failing, retried and dead-lettered); returns its text.
    pub async fn reload_until(&self, url: &str, id: &str) -> WebDriverResult<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.driver.goto(url).await?;
            if let Ok(e) = self.driver.find(By::Id(id)).await {
                return e.text().await;
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::FatalError(format!(
                    "#{id} never showed on {url}"
                )));
            }
            // Each load is a new look at the background work; pace them.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Loads `url` again until its source contains `text` (up to 60 s), for what background
    /// work writes after the test saw it happen (a delivery row stored after its receiver
    /// got the SET).
    pub async fn reload_until_source(&self, url: &str, text: &str) -> WebDriverResult<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.driver.goto(url).await?;
            if self.driver.source().await?.contains(text) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::FatalError(format!(
                    "`{text}` never showed on {url}"
                )));
            }
            // Each load is a new look at the background work; pace them.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Types a retry schedule into the console's settings form: first wait, factor, maximum
    /// delay, give up after, jitter.
    pub async fn retry_schedule(&self, values: [&str; 5]) -> WebDriverResult<()> {
        let names = [
            "initial_secs",
            "factor",
            "max_delay_secs",
            "max_age_secs",
            "jitter",
        ];
        for (name, value) in names.into_iter().zip(values) {
            self.fill(name, value).await?;
        }
        Ok(())
    }

    /// Runs axe-core (`SETHUB_TEST_AXE`, else `~/.cache/sethub-npm/node_modules/axe-core/
    /// axe.min.js`, which `scripts/test` installs) in the page, injected through the WebDriver
    /// session, and returns its violations of impact `serious` or `critical`, each as
    /// "rule: what it asks (where)".
    pub async fn axe(&self) -> WebDriverResult<Vec<String>> {
        let path = std::env::var_os("SETHUB_TEST_AXE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| {
                    std::path::PathBuf::from(h)
                        .join(".cache/sethub-npm/node_modules/axe-core/axe.min.js")
                })
            })
            .unwrap_or_default();
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read axe-core at {} ({e}); scripts/test installs it",
                path.display()
            )
        });
        self.driver.execute(&source, Vec::new()).await?;
        let found = self
            .driver
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 axe.run(document, {resultTypes: ['violations']}).then(r => done( \
                   r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical') \
                     .map(v => v.id + ': ' + v.help + ' (' + \
                       v.nodes.map(n => n.target.join(' ')).join(', ') + ')'))) \
                 .catch(e => done(['axe failed: ' + e]));",
                Vec::new(),
            )
            .await?;
        Ok(found
            .json()
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Quits the browser.
    pub async fn quit(self) -> WebDriverResult<()> {
        self.driver.quit().await
    }
}
