//! The pod simulator: for every Deployment with a container whose image repository ends with
//! one of the configured suffixes (the runner's, the operator's, ...), keep `spec.replicas` local
//! processes of the binary that suffix maps to running,
//! write a Pod object for each and the Deployment's status, and roll the pods when the template
//! changes. How it differs from a kubelet is listed in the crate's README.

mod container_config;
mod pod_status;
mod service_account;
mod supervisor;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api_server::ApiServer;
use crate::field_management::Scope;
use crate::garbage_collection::deletion::Propagation;
use crate::resources::ResourceDesc;
use crate::storage::cluster_state::ClusterState;
use crate::storage::object_lifecycle::WriteOptions;
use pod_status::{PodCounts, PodIdentity};
use supervisor::{LaunchSpec, RunStatus, Supervisor};

/// What the simulator runs.
#[derive(Clone, Debug)]
pub(crate) struct SimulatorOptions {
    /// Image repository suffix → binary: a container whose image repository (the image without
    /// tag or digest) ends with a suffix runs its binary; the first match wins.
    pub(crate) images: Vec<(String, PathBuf)>,
    /// Where pod root directories are made.
    pub(crate) root: PathBuf,
}

/// One simulated pod.
struct SimPod {
    namespace: String,
    name: String,
    deployment: String,
    hash: String,
    start_time: String,
    object_written: bool,
    /// The status last written to the Pod object, so unchanged pods cost no store access.
    last_status: Option<Value>,
    supervisor: Supervisor,
}

/// A simulated pod's live container state, seen from outside the simulator's task.
struct PodHandle {
    namespace: String,
    name: String,
    status: Arc<std::sync::Mutex<RunStatus>>,
}

impl PodHandle {
    /// The current process id; `None` between runs.
    fn pid(&self) -> Option<u32> {
        self.status.lock().ok().and_then(|s| s.pid)
    }
}

/// The running simulator.
pub(crate) struct PodSimulator {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<SimPod>>,
    pods: Arc<std::sync::Mutex<Vec<PodHandle>>>,
}

impl PodSimulator {
    /// Start simulating the pods of runner Deployments.
    pub(crate) fn start(server: Arc<ApiServer>, options: SimulatorOptions) -> Self {
        let (stop, stopped) = watch::channel(false);
        let pods = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = tokio::spawn(run(server, options, stopped, pods.clone()));
        Self { stop, task, pods }
    }

    /// Stop every process and wait for them to exit.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        if let Ok(pods) = self.task.await {
            futures::future::join_all(pods.into_iter().map(|p| p.supervisor.stop())).await;
        }
    }

    /// Kill every process now (the cluster is dropped without `shutdown`).
    pub(crate) fn kill_all(&self) {
        self.task.abort();
        if let Ok(pods) = self.pods.lock() {
            pods.iter().filter_map(PodHandle::pid).for_each(supervisor::kill);
        }
    }

    /// SIGKILL the process of pod `namespace/name`, as when its container crashes; its
    /// supervisor restarts it. The pid killed; `None` when the pod has no process running.
    pub(crate) fn kill_pod(&self, namespace: &str, name: &str) -> Option<u32> {
        let pods = self.pods.lock().ok()?;
        let pid = pods.iter().find(|p| p.namespace == namespace && p.name == name)?.pid()?;
        supervisor::kill(pid);
        Some(pid)
    }
}

async fn run(
    server: Arc<ApiServer>,
    options: SimulatorOptions,
    mut stop: watch::Receiver<bool>,
    handles: Arc<std::sync::Mutex<Vec<PodHandle>>>,
) -> Vec<SimPod> {
    let mut changes = server.lock().store.subscribe();
    let mut pods: Vec<SimPod> = Vec::new();
    loop {
        reconcile(&server, &options, &mut pods);
        if let Ok(mut handles) = handles.lock() {
            *handles = pods
                .iter()
                .map(|p| PodHandle {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    status: p.supervisor.status.clone(),
                })
                .collect();
        }
        tokio::select! {
            _ = stop.changed() => return pods,
            _ = changes.recv() => {
                // Coalesce a burst of changes (e.g. a thousand Deployments applied) into one pass.
                tokio::time::sleep(Duration::from_millis(20)).await;
                changes = changes.resubscribe();
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// A desired simulated Deployment.
struct Wanted {
    /// The binary its simulated container runs.
    binary: PathBuf,
    object: Value,
    namespace: String,
    name: String,
    hash: String,
    replicas: usize,
    container: Value,
}

/// What a pass starts from, read under one lock.
struct Observed {
    /// The runner Deployments not being deleted.
    wanted: Vec<Wanted>,
    /// The Pod objects that exist, by (namespace, name).
    existing_pods: Vec<(String, String)>,
}

/// One pass: bring the simulated pods in line with the runner Deployments, then write the Pod
/// objects and the Deployments' status.
fn reconcile(server: &Arc<ApiServer>, options: &SimulatorOptions, pods: &mut Vec<SimPod>) {
    let Some(observed) = observe(server, options) else { return };
    let mut stopping = retire_unowned(pods, &observed);
    for want in &observed.wanted {
        stopping.extend(scale_and_roll(server, options, pods, want));
    }
    for pod in stopping {
        pod.supervisor.request_stop();
        // As the kubelet does, the Pod object goes only once its process has exited: until then
        // the old process may still answer, and a client listing pods must still see it.
        let server = server.clone();
        tokio::spawn(async move {
            pod.supervisor.stop().await;
            let mut state = server.lock();
            let Some(pod_desc) = state.resource("", "v1", "pods") else { return };
            let deleted = state.delete(
                &pod_desc,
                Some(&pod.namespace),
                &pod.name,
                Propagation::Background,
                &Value::Null,
            );
            if deleted.is_ok() {
                server.pod_logs.remove(&pod.namespace, &pod.name);
            }
        });
    }
    let mut state = server.lock();
    let Some(pod_desc) = state.resource("", "v1", "pods") else { return };
    for want in &observed.wanted {
        let mut counts = PodCounts { total: 0, updated: 0, ready: 0, updated_ready: 0 };
        for pod in pods.iter_mut().filter(|p| p.namespace == want.namespace && p.deployment == want.name) {
            let run = pod.supervisor.snapshot();
            counts.total += 1;
            counts.ready += i64::from(run.ready);
            if pod.hash == want.hash {
                counts.updated += 1;
                counts.updated_ready += i64::from(run.ready);
            }
            write_pod(&mut state, &pod_desc, pod, want, &run);
        }
        let Some(deployments) = state.resource("apps", "v1", "deployments") else { return };
        write_deployment_status(&mut state, &deployments, want, &counts);
    }
}

/// The runner Deployments and the existing Pod objects; `None` while the kinds are not served.
fn observe(server: &ApiServer, options: &SimulatorOptions) -> Option<Observed> {
    let state = server.lock();
    let deployments = state.resource("apps", "v1", "deployments")?;
    let pod_desc = state.resource("", "v1", "pods")?;
    let wanted = state
        .list(&deployments, None)
        .into_iter()
        .filter(|d| d["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|d| wanted(d, &options.images))
        .collect();
    let existing_pods = state.list(&pod_desc, None).iter().map(crate::storage::store::object_key).collect();
    Some(Observed { wanted, existing_pods })
}

/// Pods whose Deployment is gone (or no longer runs the runner), or whose Pod object was deleted.
fn retire_unowned(pods: &mut Vec<SimPod>, observed: &Observed) -> Vec<SimPod> {
    take_where(pods, |pod| {
        let owner_wanted =
            observed.wanted.iter().any(|w| w.namespace == pod.namespace && w.name == pod.deployment);
        let object_gone = pod.object_written
            && !observed.existing_pods.contains(&(pod.namespace.clone(), pod.name.clone()));
        !owner_wanted || object_gone
    })
}

/// Start or retire pods of the current template to match `replicas`; once they are all ready,
/// the pods of older templates go (a rolling update's end state). Returns the pods to stop.
fn scale_and_roll(
    server: &Arc<ApiServer>,
    options: &SimulatorOptions,
    pods: &mut Vec<SimPod>,
    want: &Wanted,
) -> Vec<SimPod> {
    let mine = |p: &SimPod| p.namespace == want.namespace && p.deployment == want.name;
    let mut stopping = Vec::new();
    let current: Vec<usize> =
        (0..pods.len()).filter(|i| mine(&pods[*i]) && pods[*i].hash == want.hash).collect();
    if current.len() > want.replicas {
        for i in current[want.replicas..].iter().rev() {
            stopping.push(pods.remove(*i));
        }
    } else {
        for _ in current.len()..want.replicas {
            pods.push(start_pod(server, options, want));
        }
    }
    let all_ready =
        pods.iter().filter(|p| mine(p) && p.hash == want.hash).all(|p| p.supervisor.snapshot().ready);
    if all_ready {
        stopping.extend(take_where(pods, |p| mine(p) && p.hash != want.hash));
    }
    stopping
}

/// Remove the pods `matches` selects, in order.
fn take_where(pods: &mut Vec<SimPod>, mut matches: impl FnMut(&SimPod) -> bool) -> Vec<SimPod> {
    let mut taken = Vec::new();
    let mut index = 0;
    while index < pods.len() {
        if matches(&pods[index]) {
            taken.push(pods.remove(index));
        } else {
            index += 1;
        }
    }
    taken
}

/// Create the pod's Pod object if not yet written, and write its status when it changed, as
/// the kubelet does.
fn write_pod(
    state: &mut ClusterState,
    pod_desc: &ResourceDesc,
    pod: &mut SimPod,
    want: &Wanted,
    run: &RunStatus,
) {
    let identity = PodIdentity {
        namespace: &pod.namespace,
        name: &pod.name,
        deployment: &want.object,
        hash: &pod.hash,
        runner_container: want.container["name"].as_str().unwrap_or_default(),
    };
    let status = pod_status::pod_status(&identity, run, &pod.start_time);
    if pod.object_written && pod.last_status.as_ref() == Some(&status) {
        return;
    }
    if !pod.object_written {
        let mut object = pod_status::pod_object(&identity);
        object["status"] = status.clone();
        let writer = WriteOptions { manager: "kube-controller-manager".into(), ..WriteOptions::system() };
        match state.create(pod_desc, Some(&pod.namespace), object, &writer) {
            Ok(_) => pod.object_written = true,
            Err(err) => tracing::warn!(%err, pod = %pod.name, "cannot create simulated Pod"),
        }
    }
    match state.get(pod_desc, Some(&pod.namespace), &pod.name) {
        Ok(mut object) if object["status"] != status => {
            object["status"] = status.clone();
            let kubelet =
                WriteOptions { manager: "kubelet".into(), scope: Scope::Status, ..WriteOptions::system() };
            match state.update(pod_desc, Some(&pod.namespace), &pod.name, object, &kubelet) {
                Ok(_) => pod.last_status = Some(status),
                Err(err) => tracing::debug!(%err, "simulated Pod status not written"),
            }
        }
        Ok(_) => pod.last_status = Some(status),
        Err(_) => {}
    }
}

/// Write the Deployment's status as the deployment controller does, when more than its
/// timestamps changed.
fn write_deployment_status(
    state: &mut ClusterState,
    deployments: &ResourceDesc,
    want: &Wanted,
    counts: &PodCounts,
) {
    let status = pod_status::deployment_status(&want.object, counts, &want.hash);
    let mut object = want.object.clone();
    if strip_times(&object["status"]) != strip_times(&status) {
        object["status"] = status;
        let controller = WriteOptions {
            manager: "kube-controller-manager".into(),
            scope: Scope::Status,
            ..WriteOptions::system()
        };
        if let Err(err) = state.update(deployments, Some(&want.namespace), &want.name, object, &controller) {
            tracing::debug!(%err, "Deployment status not written");
        }
    }
}

fn strip_times(status: &Value) -> Value {
    let mut status = status.clone();
    for condition in status["conditions"].as_array_mut().into_iter().flatten() {
        if let Some(c) = condition.as_object_mut() {
            c.remove("lastUpdateTime");
            c.remove("lastTransitionTime");
        }
    }
    status
}

fn start_pod(server: &Arc<ApiServer>, options: &SimulatorOptions, want: &Wanted) -> SimPod {
    let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().take(5).collect();
    let name = format!("{}-{}-{suffix}", want.name, want.hash);
    let root = options.root.join(&want.namespace).join(&name);
    let _ = std::fs::create_dir_all(&root);
    let spec = LaunchSpec {
        binary: want.binary.clone(),
        namespace: want.namespace.clone(),
        pod_name: name.clone(),
        pod_uid: uuid::Uuid::new_v4().to_string(),
        template: json!({"metadata": pod_metadata(want, &name), "spec": want.object["spec"]["template"]["spec"]}),
        container: want.container.clone(),
        root,
        port: supervisor::free_port(),
    };
    tracing::info!(deployment = %want.name, pod = %name, "starting simulated pod");
    SimPod {
        namespace: want.namespace.clone(),
        name,
        deployment: want.name.clone(),
        hash: want.hash.clone(),
        start_time: crate::time::now(),
        object_written: false,
        last_status: None,
        supervisor: Supervisor::start(server.clone(), spec),
    }
}

fn pod_metadata(want: &Wanted, name: &str) -> Value {
    let mut metadata = want.object["spec"]["template"]["metadata"].clone();
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(want.namespace);
    metadata
}

fn wanted(deployment: Value, images: &[(String, PathBuf)]) -> Option<Wanted> {
    let (container, binary) =
        deployment["spec"]["template"]["spec"]["containers"].as_array()?.iter().find_map(|c| {
            let repository = image_repository(c["image"].as_str().unwrap_or_default());
            let (_, binary) = images.iter().find(|(suffix, _)| repository.ends_with(suffix.as_str()))?;
            Some((c.clone(), binary.clone()))
        })?;
    let mut hasher = DefaultHasher::new();
    deployment["spec"]["template"].to_string().hash(&mut hasher);
    let hash = format!("{:x}", hasher.finish()).chars().take(10).collect();
    Some(Wanted {
        binary,
        namespace: deployment["metadata"]["namespace"].as_str()?.to_owned(),
        name: deployment["metadata"]["name"].as_str()?.to_owned(),
        replicas: usize::try_from(deployment["spec"]["replicas"].as_i64().unwrap_or(1).max(0)).unwrap_or(0),
        hash,
        container,
        object: deployment,
    })
}

/// `registry:5000/team/agentry-runner:v1@sha256:…` → `registry:5000/team/agentry-runner`.
fn image_repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}
