//! `agentry dev` for real: started as a newcomer would (`agentry dev --samples --model-url …`,
//! the API key in an environment variable), it brings up devcluster, the operator and the
//! recorder beside itself; the sample Agents become Ready; `agentry ask` with only the printed
//! KUBECONFIG gets the scripted model's answer; and Ctrl-C (SIGINT) stops every process it
//! started and removes its directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_crds::Agent;
use agentry_tests::binaries::{self, Binaries};
use agentry_tests::nats_fixture;
use agentry_tests::operator_world::{condition_of, database_url};
use agentry_tests::polling::poll_until;
use agentry_tests::process_tree::{alive, descendants};
use agentry_tests::recorder_fixture::ScratchSchema;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long `agentry dev` may take to come up, and the samples to become Ready.
const START: Duration = Duration::from_secs(180);
/// How long it may take to stop everything after Ctrl-C.
const STOP: Duration = Duration::from_secs(60);
/// The variable the test hands the API key in.
const KEY_VAR: &str = "AGENTRY_DEV_TEST_KEY";
const KEY: &str = "sk-dev-from-the-environment";
const ANSWER: &str = "Two deliveries for Northwind are at risk.";

/// A running `agentry dev` and everything it printed so far.
struct Dev {
    child: Child,
    printed: Arc<Mutex<Vec<String>>>,
}

impl Dev {
    fn start(binaries: &Binaries, model_url: &str, instance: &str, ns: &str) -> Self {
        let mut child = Command::new(&binaries.cli)
            .args(["dev", "--samples", "--model-url", model_url, "--api-key-env", KEY_VAR])
            .args(["--instance", instance, "-n", ns, "--nats-url", &nats_fixture::nats_url()])
            .env(KEY_VAR, KEY)
            .env("AGENTRY_DATABASE_URL", database_url())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("agentry dev starts");
        let printed = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn({
            let printed = printed.clone();
            async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    printed.lock().expect("lines").push(line);
                }
            }
        });
        Self { child, printed }
    }

    fn output(&self) -> String {
        self.printed.lock().expect("lines").join("\n")
    }

    /// The path of `export KUBECONFIG=<path>`, once printed.
    async fn kubeconfig(&mut self) -> PathBuf {
        let printed = self.printed.clone();
        let found = poll_until(START, || {
            let line = printed
                .lock()
                .expect("lines")
                .iter()
                .find_map(|l| l.strip_prefix("export KUBECONFIG=").map(PathBuf::from));
            let exited = self.child.try_wait().ok().flatten();
            async move { line.map(Ok).or(exited.map(Err)) }
        })
        .await;
        match found {
            Ok(Ok(path)) => path,
            Ok(Err(status)) => panic!("agentry dev exited ({status}):\n{}", self.output()),
            Err(timed_out) => panic!("no KUBECONFIG line: {timed_out}:\n{}", self.output()),
        }
    }
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let config = Kubeconfig::read_from(kubeconfig).expect("the kubeconfig printed");
    let config =
        kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default()).await.expect("config");
    kube::Client::try_from(config).expect("client")
}

async fn wait_ready(client: &kube::Client, ns: &str, agent: &str, dev: &Dev) {
    let agents: Api<Agent> = Api::namespaced(client.clone(), ns);
    let ready = poll_until(START, || async {
        let found = agents.get(agent).await.ok()?;
        condition_of(&found, "Ready").filter(|c| c.is_true()).map(|_| ())
    })
    .await;
    if ready.is_err() {
        let agent_now = agents.get(agent).await.map(|a| format!("{:?}", a.status));
        panic!("{agent} not Ready: {agent_now:?}\n{}", dev.output());
    }
}

/// `agentry ask -n <ns> sales-agent …` with only `KUBECONFIG` set, as the printed hint says.
async fn ask(binaries: &Binaries, kubeconfig: &Path, ns: &str) -> String {
    let output = Command::new(&binaries.cli)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", kubeconfig)
        .args(["ask", "-n", ns, "sales-agent", "Which deliveries are at risk this week?"])
        .output()
        .await
        .expect("agentry ask runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "agentry ask failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn interrupt_and_wait(dev: &mut Dev) -> std::process::ExitStatus {
    let pid = dev.child.id().expect("still running");
    let sent =
        std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("kill runs");
    assert!(sent.success(), "kill -INT {pid}");
    match tokio::time::timeout(STOP, dev.child.wait()).await {
        Ok(status) => status.expect("exit status"),
        Err(_) => panic!("agentry dev still running {STOP:?} after SIGINT:\n{}", dev.output()),
    }
}

async fn delete_recorder_consumer(instance: &str) {
    let js = async_nats::jetstream::new(nats_fixture::connect().await.expect("nats"));
    let stream = js.get_stream(agentry_protocol::subjects::EVENTS_STREAM).await.expect("the events stream");
    stream.delete_consumer(&format!("agentry-{instance}-recorder")).await.expect("the recorder's consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agentry_dev_runs_the_samples_answers_and_cleans_up_on_ctrl_c() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binaries = tokio::task::spawn_blocking(binaries::built).await.expect("build task").expect("binaries");
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::text(ANSWER));
    let instance = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut schemas = [ScratchSchema::new(&database_url()), ScratchSchema::new(&database_url())];
    schemas[0].name = format!("agentry_{instance}");
    schemas[1].name = format!("agentry_{instance}_memory");
    let ns = nats_fixture::unique_namespace("dev");

    let mut dev = Dev::start(binaries, &model.base_url(), &instance, &ns);
    let kubeconfig = dev.kubeconfig().await;
    let work_dir = kubeconfig.parent().expect("the kubeconfig's directory").to_path_buf();
    let client = client(&kubeconfig).await;
    for agent in ["fleet-manager", "finance-officer", "sales-agent"] {
        wait_ready(&client, &ns, agent, &dev).await;
    }
    let answer = ask(binaries, &kubeconfig, &ns).await;
    assert!(answer.contains(ANSWER), "{answer}");
    let sent_key = model.recorded().iter().rev().find_map(|r| r.header("authorization").map(str::to_string));
    assert_eq!(sent_key, Some(format!("Bearer {KEY}")), "the API key came from {KEY_VAR}");

    let started = descendants(dev.child.id().expect("running"));
    assert!(started.len() >= 4, "devcluster, operator, recorder and runners: {started:?}");
    let status = interrupt_and_wait(&mut dev).await;
    assert!(status.success(), "agentry dev ended with {status}:\n{}", dev.output());
    let left: Vec<u32> = started.iter().copied().filter(|&pid| alive(pid)).collect();
    assert!(left.is_empty(), "still running after agentry dev stopped: {left:?}\n{}", dev.output());
    assert!(!work_dir.exists(), "{} was not removed", work_dir.display());
    assert!(dev.output().contains("stopped agentry-operator"), "{}", dev.output());
    delete_recorder_consumer(&instance).await;
    drop(schemas);
}
