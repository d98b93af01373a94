//! The real `sethub` binary as a child process, configured through `SETHUB_…` variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// A running `sethub` process. Killed (SIGKILL) when dropped.
pub struct SethubProcess {
    child: Child,
    pub base_url: String,
    pub stdout_lines: Vec<String>,
    binary: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
}

/// The process exited before it listened: its exit status and everything it printed.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl SethubProcess {
    /// Starts `binary args…` in `cwd` with `env` on top of a clean `SETHUB_*`-free environment,
    /// listening on a free port, and waits until it prints its address.
    pub async fn start(
        binary: &Path,
        args: &[&str],
        env: &BTreeMap<String, String>,
        cwd: &Path,
    ) -> Result<Self, StartFailure> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let mut env = env.clone();
        env.entry("SETHUB_SERVER__LISTEN".to_owned())
            .or_insert_with(|| "127.0.0.1:0".to_owned());
        Self::spawn(binary.to_owned(), args, env, cwd.to_owned()).await
    }

    async fn spawn(
        binary: PathBuf,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: PathBuf,
    ) -> Result<Self, StartFailure> {
        let mut cmd = Command::new(&binary);
        cmd.args(&args)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars()
            .filter(|(k, _)| k.starts_with("SETHUB_") && !k.starts_with("SETHUB_TEST"))
        {
            cmd.env_remove(k);
        }
        cmd.envs(&env).env(
            "RUST_LOG",
            std::env::var("SETHUB_TEST_LOG").unwrap_or_else(|_| "warn".to_owned()),
        );
        cmd.kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel::<(bool, String)>();
        let tx_err = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send((true, line)).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[sethub stderr] {line}");
                let _ = tx_err.send((false, line));
            }
        });
        // With `server.tls` the process serves HTTPS on its address.
        let scheme = if env.contains_key("SETHUB_SERVER__TLS__CERT") {
            "https"
        } else {
            "http"
        };
        let mut stdout_lines = Vec::new();
        let mut stderr_lines = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some((true, line)) => {
                        let addr = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()).map(str::to_owned);
                        stdout_lines.push(line);
                        if let Some(addr) = addr {
                            // Keep draining output in the background so the child never blocks.
                            // With SETHUB_TEST_ECHO set, its log (stdout) is echoed to the test's stderr,
                            // each line prefixed with the process id.
                            let echo = std::env::var("SETHUB_TEST_ECHO").is_ok();
                            let pid = child.id().unwrap_or_default();
                            tokio::spawn(async move {
                                while let Some((_, line)) = rx.recv().await {
                                    if echo {
                                        eprintln!("[sethub {pid}] {line}");
                                    }
                                }
                            });
                            return Ok(Self {
                                child,
                                base_url: format!("{scheme}://{addr}"),
                                stdout_lines,
                                binary,
                                args,
                                env,
                                cwd,
                            });
                        }
                    }
                    Some((false, line)) => stderr_lines.push(line),
                    None => {
                        let status = child.wait().await.ok().and_then(|s| s.code());
                        return Err(StartFailure { status, stdout: stdout_lines.join("\n"), stderr: stderr_lines.join("\n") });
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    panic!("sethub did not print its address within 60 s; stdout so far: {stdout_lines:?}, stderr: {stderr_lines:?}");
                }
            }
        }
    }

    /// Kills the process with SIGKILL (no clean shutdown) and waits for it to exit.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts the same command again (same environment, same port if it was fixed).
    pub async fn restart(mut self) -> Self {
        self.kill().await;
        self.start_again().await
    }

    /// Sends SIGTERM and waits (up to `within`) for the process to exit; returns its exit
    /// code (`None`: killed by a signal). Panics if it is still running at the deadline.
    pub async fn terminate(&mut self, within: Duration) -> Option<i32> {
        self.send_sigterm();
        self.wait_exit(within).await
    }

    /// Sends SIGTERM and returns at once.
    pub fn send_sigterm(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// Waits (up to `within`) for the process to exit; returns its exit code (`None`:
    /// killed by a signal). Panics if it is still running at the deadline.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.ok().and_then(|s| s.code()),
            Err(_) => panic!("sethub did not exit within {within:?}"),
        }
    }

    /// Starts the same command again on the same port, after this process has exited (see
    /// [`SethubProcess::terminate`]).
    pub async fn start_again(&self) -> Self {
        let port = self.base_url.rsplit(':').next().unwrap().to_owned();
        let mut env = self.env.clone();
        env.insert(
            "SETHUB_SERVER__LISTEN".to_owned(),
            format!("127.0.0.1:{port}"),
        );
        Self::spawn(
            self.binary.clone(),
            self.args.clone(),
            env,
            self.cwd.clone(),
        )
        .await
        .unwrap_or_else(|f| panic!("start again failed: {f:?}"))
    }

    /// The operating system's id of the process (`None` once it has exited and been waited).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}
