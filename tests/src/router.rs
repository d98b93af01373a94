//! The repository's nginx router (`deploy/nginx/sethub.conf.template`) run by Debian's nginx
//! as a child process in front of test processes: rendered with the test's upstream addresses
//! (one `server` line per process), on a free port, as an unprivileged user when the tests
//! run as root. Stopped (SIGKILL to the whole group) when dropped.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Debian's nginx (the `nginx` package; `scripts/test` installs it).
pub const NGINX: &str = "/usr/sbin/nginx";

/// The router's template in the repository.
pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/sethub.conf.template")
}

/// How many processes of each service [`crate::setup::Hub::start_routed`] starts.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub ingest: usize,
    pub fanout: usize,
    pub manage: usize,
}

/// The upstream processes of each route, as `host:port`.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    pub ingest: Vec<String>,
    pub fanout: Vec<String>,
    pub manage: Vec<String>,
}

/// Renders the template: `${SETHUB_ROUTER_LISTEN}` becomes `listen`, and a line naming
/// `${SETHUB_<ROLE>_ADDR}` is repeated once per address of that role.
pub fn render(template: &str, listen: &str, up: &Upstreams) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    for line in template.lines() {
        let role = [
            ("${SETHUB_INGEST_ADDR}", &up.ingest),
            ("${SETHUB_FANOUT_ADDR}", &up.fanout),
            ("${SETHUB_MANAGE_ADDR}", &up.manage),
        ]
        .into_iter()
        .find(|(p, _)| line.contains(p) && !line.trim_start().starts_with('#'));
        match role {
            Some((placeholder, addrs)) => {
                assert!(!addrs.is_empty(), "no upstream for {placeholder}");
                for a in addrs {
                    out.push_str(&line.replace(placeholder, a));
                    out.push('\n');
                }
            }
            None => {
                out.push_str(&line.replace("${SETHUB_ROUTER_LISTEN}", listen));
                out.push('\n');
            }
        }
    }
    out
}

/// A running nginx router.
pub struct Router {
    child: Child,
    pub port: u16,
    pub base_url: String,
    dir: PathBuf,
}

impl Router {
    /// Renders the repository's template for `up`, starts nginx on `port` and waits until it
    /// accepts connections.
    pub async fn start(port: u16, up: &Upstreams) -> Self {
        let template = std::fs::read_to_string(template_path()).unwrap();
        let dir = std::env::temp_dir().join(format!("sethub-nginx-{}", crate::random_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let site = render(&template, &format!("127.0.0.1:{port}"), up);
        std::fs::write(dir.join("sethub.conf"), site).unwrap();
        let d = dir.display();
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/sethub.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        if root {
            // nginx runs as `nobody`: it must write its pid, logs and temp files here.
            for entry in std::fs::read_dir(&dir).unwrap() {
                std::os::unix::fs::chown(entry.unwrap().path(), Some(65534), Some(65534)).unwrap();
            }
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        }
        let mut cmd = Command::new(NGINX);
        cmd.arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        if root {
            cmd.uid(65534).gid(65534);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {NGINX}: {e}"));
        let router = Self {
            child,
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let addr = format!("127.0.0.1:{port}");
        crate::wait_until(
            "nginx to accept connections",
            Duration::from_secs(30),
            || {
                let addr = addr.clone();
                async move { tokio::net::TcpStream::connect(addr).await.ok().map(|_| ()) }
            },
        )
        .await;
        router
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The access log so far (one line per request, nginx's `combined` format).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The master and its worker share the process group started for them.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_repeats_a_server_line_per_process_and_keeps_nginx_variables() {
        let template = std::fs::read_to_string(template_path()).unwrap();
        let up = Upstreams {
            ingest: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
            fanout: vec!["127.0.0.1:3".into()],
            manage: vec!["127.0.0.1:4".into()],
        };
        let out = render(&template, "127.0.0.1:9", &up);
        assert!(out.contains("server 127.0.0.1:1 "), "{out}");
        assert!(out.contains("server 127.0.0.1:2 "), "{out}");
        assert!(out.contains("listen 127.0.0.1:9;"), "{out}");
        let live: String = out
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        assert!(!live.contains("${SETHUB_"), "a placeholder is left: {live}");
        assert!(live.contains("$remote_addr"));
    }
}
