//! A real Prometheus server (Debian's `prometheus` binary, installed by scripts/dev-services)
//! on a free loopback port, scraping the given targets every second with the given rules, its
//! storage in a scratch directory removed at the end.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use agentry_tests::polling::poll_until;
use agentry_tests::service_process::free_port;
use serde_json::Value;
use tokio::process::{Child, Command};

/// A running Prometheus, killed and its directory removed when dropped.
pub(crate) struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    url: String,
    client: reqwest::Client,
}

/// One scrape job: its name and targets.
pub(crate) struct ScrapeJob<'a> {
    pub(crate) name: &'a str,
    pub(crate) targets: Vec<SocketAddr>,
}

impl PrometheusServer {
    /// Starts Prometheus with `rules` (a rule file's YAML) scraping `jobs` every second and
    /// evaluating rules every second; returns once it answers ready.
    pub(crate) async fn start(jobs: &[ScrapeJob<'_>], rules: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("agentry-prometheus-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("data")).expect("scratch directory");
        std::fs::write(dir.join("rules.yaml"), rules).expect("rules written");
        let scrape_configs: Vec<Value> = jobs
            .iter()
            .map(|job| {
                let targets: Vec<String> = job.targets.iter().map(ToString::to_string).collect();
                serde_json::json!({"job_name": job.name, "static_configs": [{"targets": targets}]})
            })
            .collect();
        let config = serde_json::json!({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yaml"],
            "scrape_configs": scrape_configs,
        });
        // JSON is YAML: Prometheus reads it as its config file.
        std::fs::write(dir.join("prometheus.yml"), config.to_string()).expect("config written");
        let port = free_port().expect("a free port");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run prometheus ({e}): run scripts/dev-services, which installs Debian's prometheus package")
            });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server =
            Self { child, dir, url: format!("http://127.0.0.1:{port}"), client: reqwest::Client::new() };
        let ready = poll_until(Duration::from_secs(30), || async {
            let response = server.client.get(format!("{}/-/ready", server.url)).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        assert!(ready.is_ok(), "prometheus did not become ready:\n{}", server.log());
        server
    }

    /// What Prometheus has logged.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// The result of an instant query (`data.result`), or why there is none.
    pub(crate) async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let response = self
            .client
            .get(format!("{}/api/v1/query?query={}", self.url, percent_encoded(expr)))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{expr}: {body}"));
        }
        Ok(body["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// The alerts Prometheus holds now (`/api/v1/alerts`), pending and firing.
    pub(crate) async fn alerts(&self) -> Result<Vec<Value>, String> {
        let response =
            self.client.get(format!("{}/api/v1/alerts", self.url)).send().await.map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        Ok(body["data"]["alerts"].as_array().cloned().unwrap_or_default())
    }
}

/// `text` with every byte but ASCII letters and digits percent-encoded, for a query string.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
