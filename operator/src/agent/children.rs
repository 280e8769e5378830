//! The objects the operator writes for an Agent: its runner ConfigMap, Deployment, Service and
//! NetworkPolicy. Pure builders; the controller applies them with server-side apply.

use std::collections::BTreeMap;

use agentry_crds::{Agent, PodOverrides};
use agentry_protocol::runner_config::{CONFIG_PATH_ENV, EVENT_FLUSH_SECONDS, NATS_CREDENTIALS_ENV};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    Secret, SecretKeySelector, SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec,
    Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::agent::nats_identity;
use crate::agent::runner_config::{CONFIG_KEY, CONFIG_MOUNT_DIR, Rendered};
use crate::runtime::settings::OperatorSettings;

/// Version of what these builders write; bump it when a change to them must reach existing
/// runners (it is part of the config hash).
pub const CHILDREN_VERSION: &str = "2";

/// Pod-template annotation carrying the config hash; a new value rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "agentry.dev/config-hash";
/// Label naming the Agent on every child and runner pod.
pub const AGENT_LABEL: &str = "agentry.dev/agent";
/// PostgreSQL's port, opened in the NetworkPolicy when the Agent has a MemoryStore.
const POSTGRES_PORT: i32 = 5432;

/// The labels of every child, and the selector of the runner pods.
pub fn labels(agent: &Agent) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "agentry-runner".to_string()),
        ("app.kubernetes.io/instance".to_string(), agent.name_any()),
        ("app.kubernetes.io/managed-by".to_string(), "agentry-operator".to_string()),
        (AGENT_LABEL.to_string(), agent.name_any()),
    ])
}

fn selector(agent: &Agent) -> BTreeMap<String, String> {
    BTreeMap::from([(AGENT_LABEL.to_string(), agent.name_any())])
}

fn metadata(agent: &Agent, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: agent.namespace(),
        labels: Some(labels(agent)),
        owner_references: owner(agent).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

fn owner(agent: &Agent) -> Option<OwnerReference> {
    // A controller reference, so `kubectl delete agent` garbage-collects every child.
    agent.controller_owner_ref(&())
}

/// The ConfigMap's name.
pub fn config_map_name(agent: &Agent) -> String {
    format!("{}-runner", agent.name_any())
}

/// The ConfigMap holding the rendered runner config.
pub fn config_map(agent: &Agent, rendered: &Rendered) -> ConfigMap {
    ConfigMap {
        metadata: metadata(agent, config_map_name(agent)),
        data: Some(BTreeMap::from([(CONFIG_KEY.to_string(), rendered.json.clone())])),
        ..ConfigMap::default()
    }
}

/// The Secret holding the Agent's NATS credentials (`data` as minted, `annotations` saying what
/// they grant).
pub fn nats_secret(
    agent: &Agent,
    data: BTreeMap<String, ByteString>,
    annotations: BTreeMap<String, String>,
) -> Secret {
    let mut meta = metadata(agent, nats_identity::secret_name(agent));
    meta.annotations = Some(annotations);
    Secret { metadata: meta, data: Some(data), type_: Some("Opaque".into()), ..Secret::default() }
}

/// Seconds the kubelet waits beyond the runner's drain and event flush before it sends SIGKILL:
/// time to unsubscribe, flush the NATS connection and exit, so the kill never lands mid-flush.
pub const EXIT_MARGIN_SECONDS: u64 = 5;
/// The uid the runner runs as: distroless's `nonroot`, so `runAsNonRoot` holds whatever image is
/// named.
const RUNNER_UID: i64 = 65532;

/// The pod's `terminationGracePeriodSeconds` for a runner that drains for `drain_seconds`: the
/// drain, then the runner's [`EVENT_FLUSH_SECONDS`], then [`EXIT_MARGIN_SECONDS`]. The runner is
/// done before the kubelet's SIGKILL, so a rollout never cuts a request the runner admitted.
pub fn termination_grace_seconds(drain_seconds: u64) -> i64 {
    let total = drain_seconds.saturating_add(EVENT_FLUSH_SECONDS).saturating_add(EXIT_MARGIN_SECONDS);
    i64::try_from(total).unwrap_or(i64::MAX)
}

/// The runner Deployment.
pub fn deployment(agent: &Agent, rendered: &Rendered, hash: &str, settings: &OperatorSettings) -> Deployment {
    let overrides = agent.spec.pod_template.clone().unwrap_or_default();
    Deployment {
        metadata: metadata(agent, agent.name_any()),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas(agent)),
            selector: LabelSelector { match_labels: Some(selector(agent)), ..LabelSelector::default() },
            strategy: Some(rollout_strategy()),
            template: PodTemplateSpec {
                metadata: Some(pod_metadata(agent, &overrides, hash)),
                spec: Some(pod_spec(agent, rendered, &overrides, settings)),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// Runner pods wanted: none while the Agent is paused.
fn replicas(agent: &Agent) -> i32 {
    if agent.spec.paused { 0 } else { agent.spec.replicas }
}

/// One new pod before an old one goes, so an agent never has fewer ready runners than asked for
/// during a rollout.
fn rollout_strategy() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(1)),
            max_unavailable: Some(IntOrString::Int(0)),
        }),
    }
}

/// The pod template's labels (the user's, then ours over them: the selector depends on ours) and
/// annotations (the user's plus the config hash that rolls the pods).
fn pod_metadata(agent: &Agent, overrides: &PodOverrides, hash: &str) -> ObjectMeta {
    let mut pod_labels = overrides.labels.clone();
    pod_labels.extend(labels(agent));
    let mut pod_annotations = overrides.annotations.clone();
    pod_annotations.insert(CONFIG_HASH_ANNOTATION.into(), hash.into());
    ObjectMeta { labels: Some(pod_labels), annotations: Some(pod_annotations), ..ObjectMeta::default() }
}

/// The runner pod: one container, the config volume, a grace period covering the drain, no API
/// token, and the scheduling overrides the Agent asks for.
fn pod_spec(
    agent: &Agent,
    rendered: &Rendered,
    overrides: &PodOverrides,
    settings: &OperatorSettings,
) -> PodSpec {
    PodSpec {
        containers: vec![runner_container(agent, rendered, settings)],
        volumes: Some(volumes(agent, rendered)),
        termination_grace_period_seconds: Some(termination_grace_seconds(
            rendered.config.shutdown_grace_seconds,
        )),
        automount_service_account_token: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUNNER_UID),
            // Mounted Secrets (the NATS credentials) belong to this group, so they need not be
            // world-readable.
            fs_group: Some(RUNNER_UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        service_account_name: overrides.service_account_name.clone(),
        node_selector: (!overrides.node_selector.is_empty()).then(|| overrides.node_selector.clone()),
        tolerations: (!overrides.tolerations.is_empty()).then(|| overrides.tolerations.clone()),
        affinity: overrides.affinity.clone(),
        priority_class_name: overrides.priority_class_name.clone(),
        image_pull_secrets: (!overrides.image_pull_secrets.is_empty())
            .then(|| overrides.image_pull_secrets.clone()),
        ..PodSpec::default()
    }
}

/// The config volume, and the NATS credentials' when the runner has its own identity.
fn volumes(agent: &Agent, rendered: &Rendered) -> Vec<Volume> {
    let mut volumes = vec![Volume {
        name: "config".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(agent),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    if rendered.config.nats.credentials_file.is_some() {
        volumes.push(Volume {
            name: NATS_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(nats_identity::secret_name(agent)),
                optional: Some(false),
                // Readable by the runner's group (the pod's fsGroup) only, not by every user.
                default_mode: Some(0o440),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    volumes
}

/// The volume of the NATS credentials.
const NATS_VOLUME: &str = "nats-credentials";

/// The runner's mounts: its config, and its NATS credentials when it has them; read-only.
fn volume_mounts(rendered: &Rendered) -> Vec<VolumeMount> {
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    let mut mounts = vec![mount("config", CONFIG_MOUNT_DIR)];
    if rendered.config.nats.credentials_file.is_some() {
        mounts.push(mount(NATS_VOLUME, nats_identity::CREDS_MOUNT_DIR));
    }
    mounts
}

/// The runner container: its image, environment, HTTP port and probes, the config mounted
/// read-only, and no privileges.
fn runner_container(agent: &Agent, rendered: &Rendered, settings: &OperatorSettings) -> Container {
    Container {
        name: "runner".into(),
        image: Some(agent.spec.image.clone().unwrap_or_else(|| settings.runner_image.clone())),
        env: Some(runner_env(rendered, &settings.runner_trace_env)),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: i32::from(settings.runner_http_port),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(http_probe("/readyz", 5)),
        liveness_probe: Some(http_probe("/healthz", 10)),
        resources: agent.spec.resources.clone(),
        volume_mounts: Some(volume_mounts(rendered)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Capabilities::default() }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// The runner's environment: where its config is, who its pod is, where it exports traces, and
/// each Secret key it reads.
fn runner_env(rendered: &Rendered, trace_env: &[(String, String)]) -> Vec<EnvVar> {
    let mut env = vec![
        EnvVar {
            name: CONFIG_PATH_ENV.into(),
            value: Some(format!("{CONFIG_MOUNT_DIR}/{CONFIG_KEY}")),
            ..EnvVar::default()
        },
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
    ];
    if let Some(path) = &rendered.config.nats.credentials_file {
        env.push(EnvVar {
            name: NATS_CREDENTIALS_ENV.into(),
            value: Some(path.clone()),
            ..EnvVar::default()
        });
    }
    env.extend(trace_env.iter().map(|(name, value)| EnvVar {
        name: name.clone(),
        value: Some(value.clone()),
        ..EnvVar::default()
    }));
    env.extend(rendered.secret_env.iter().map(|s| EnvVar {
        name: s.env.clone(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: s.secret.clone(),
                key: s.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }));
    env
}

/// A probe of the runner's HTTP endpoint at `path` every `period` seconds, failing after three
/// misses in a row.
fn http_probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// The Service exposing the runners' metrics port, for Prometheus.
pub fn service(agent: &Agent, settings: &OperatorSettings) -> Service {
    Service {
        metadata: metadata(agent, agent.name_any()),
        spec: Some(ServiceSpec {
            selector: Some(selector(agent)),
            ports: Some(vec![ServicePort {
                name: Some("http-metrics".into()),
                port: i32::from(settings.runner_http_port),
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Addresses no runner may reach whatever the port: the cloud instance metadata services (AWS,
/// GCP, Azure and others answer on the IPv4 link-local one; AWS also on the IPv6 one), which
/// hand out the node's credentials to any pod that asks.
pub const BLOCKED_EGRESS_CIDRS: [(&str, &str); 2] =
    [("0.0.0.0/0", "169.254.169.254/32"), ("::/0", "fd00:ec2::254/128")];

/// The NetworkPolicy: scrapes in on the metrics port; out to DNS, and to NATS, PostgreSQL (with
/// a MemoryStore) and the ports of the model and tool endpoints at any address but the cloud
/// metadata services ([`BLOCKED_EGRESS_CIDRS`]). NetworkPolicy cannot name hosts, so egress is
/// otherwise limited by port.
pub fn network_policy(
    agent: &Agent,
    rendered: &Rendered,
    with_memory: bool,
    settings: &OperatorSettings,
) -> NetworkPolicy {
    let tcp = |port: i32| NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..NetworkPolicyPort::default()
    };
    let dns = vec![
        NetworkPolicyPort {
            port: Some(IntOrString::Int(53)),
            protocol: Some("UDP".into()),
            ..NetworkPolicyPort::default()
        },
        tcp(53),
    ];
    let mut egress_ports = vec![tcp(i32::from(settings.nats_port))];
    if with_memory {
        egress_ports.push(tcp(POSTGRES_PORT));
    }
    egress_ports.extend(rendered.egress_ports.iter().map(|p| tcp(i32::from(*p))));
    NetworkPolicy {
        metadata: metadata(agent, agent.name_any()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector(agent)),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                ports: Some(vec![tcp(i32::from(settings.runner_http_port))]),
                ..NetworkPolicyIngressRule::default()
            }]),
            egress: Some(vec![
                NetworkPolicyEgressRule { ports: Some(dns), ..NetworkPolicyEgressRule::default() },
                NetworkPolicyEgressRule { to: Some(anywhere_but_metadata()), ports: Some(egress_ports) },
            ]),
        }),
    }
}

/// Every address but [`BLOCKED_EGRESS_CIDRS`], as NetworkPolicy peers.
fn anywhere_but_metadata() -> Vec<NetworkPolicyPeer> {
    BLOCKED_EGRESS_CIDRS
        .iter()
        .map(|(all, blocked)| NetworkPolicyPeer {
            ip_block: Some(IPBlock { cidr: (*all).into(), except: Some(vec![(*blocked).into()]) }),
            ..NetworkPolicyPeer::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::agent::runner_config::{DRAIN_MARGIN_SECONDS, render};

    fn agent(spec: Value) -> Agent {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": "finance-officer", "namespace": "fleet", "uid": "u-1"},
            "spec": spec,
        }))
        .expect("agent")
    }

    fn settings() -> OperatorSettings {
        OperatorSettings::new("runner:dev", "nats://nats.agentry:4222")
    }

    fn pod_spec_of(deployment: &Deployment) -> &PodSpec {
        deployment.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod spec")
    }

    #[test]
    fn egress_reaches_any_address_but_the_cloud_metadata_services() {
        let agent = agent(json!({"role": "worker", "modelRef": "gpt"}));
        let mut rendered = render(&agent, &[], &[], &settings());
        rendered.egress_ports.insert(8443);
        let policy = network_policy(&agent, &rendered, false, &settings());
        let egress = policy.spec.and_then(|s| s.egress).expect("egress rules");
        let ports = |rule: &NetworkPolicyEgressRule| -> Vec<i32> {
            rule.ports
                .iter()
                .flatten()
                .filter_map(|p| match p.port {
                    Some(IntOrString::Int(n)) => Some(n),
                    _ => None,
                })
                .collect()
        };
        // DNS may go to any resolver; nothing else is open to every address.
        assert_eq!(egress[0].to, None);
        assert_eq!(ports(&egress[0]), [53, 53]);
        assert_eq!(egress.len(), 2, "{egress:?}");
        assert_eq!(ports(&egress[1]), [4222, 8443]);
        let blocks: Vec<(String, Vec<String>)> = egress[1]
            .to
            .iter()
            .flatten()
            .filter_map(|peer| peer.ip_block.clone())
            .map(|b| (b.cidr, b.except.unwrap_or_default()))
            .collect();
        assert_eq!(
            blocks,
            [
                ("0.0.0.0/0".to_owned(), vec!["169.254.169.254/32".to_owned()]),
                ("::/0".to_owned(), vec!["fd00:ec2::254/128".to_owned()]),
            ]
        );
    }

    #[test]
    fn the_grace_period_covers_the_drain_the_event_flush_and_exit() {
        assert_eq!(termination_grace_seconds(125), 125 + 5 + 5);
        assert_eq!(termination_grace_seconds(u64::MAX), i64::MAX);
    }

    #[test]
    fn the_kubelet_waits_out_every_request_the_runner_admitted() {
        for timeout in [1, 120, 3600] {
            let agent =
                agent(json!({"role": "worker", "modelRef": "gpt", "limits": {"timeoutSeconds": timeout}}));
            let rendered = render(&agent, &[], &[], &settings());
            let drain = rendered.config.shutdown_grace_seconds;
            assert_eq!(drain, timeout + DRAIN_MARGIN_SECONDS);
            let grace = pod_spec_of(&deployment(&agent, &rendered, "h", &settings()))
                .termination_grace_period_seconds
                .expect("grace period");
            // The runner drains, then flushes events; SIGKILL comes only after both.
            assert!(grace > i64::try_from(timeout).expect("fits"), "{timeout}: {grace}");
            assert!(grace > i64::try_from(drain + EVENT_FLUSH_SECONDS).expect("fits"), "{timeout}: {grace}");
        }
    }

    #[test]
    fn a_paused_agent_has_no_pods() {
        assert_eq!(replicas(&agent(json!({"role": "worker", "modelRef": "gpt", "replicas": 3}))), 3);
        assert_eq!(
            replicas(&agent(json!({"role": "worker", "modelRef": "gpt", "replicas": 3, "paused": true}))),
            0
        );
    }

    #[test]
    fn the_pods_keep_the_users_labels_but_never_lose_ours() {
        let agent = agent(json!({"role": "worker", "modelRef": "gpt"}));
        let overrides = PodOverrides {
            labels: BTreeMap::from([
                ("team".to_string(), "finance".to_string()),
                (AGENT_LABEL.to_string(), "someone-else".to_string()),
            ]),
            annotations: BTreeMap::from([("note".to_string(), "x".to_string())]),
            ..PodOverrides::default()
        };
        let meta = pod_metadata(&agent, &overrides, "abc");
        let labels = meta.labels.expect("labels");
        assert_eq!(labels.get("team").map(String::as_str), Some("finance"));
        assert_eq!(labels.get(AGENT_LABEL).map(String::as_str), Some("finance-officer"));
        let annotations = meta.annotations.expect("annotations");
        assert_eq!(annotations.get(CONFIG_HASH_ANNOTATION).map(String::as_str), Some("abc"));
        assert_eq!(annotations.get("note").map(String::as_str), Some("x"));
    }

    #[test]
    fn the_runner_reads_its_config_and_each_secret_from_the_environment() {
        let agent = agent(json!({"role": "worker", "modelRef": "gpt"}));
        let mut rendered = render(&agent, &[], &[], &settings());
        rendered.secret_env = vec![crate::agent::runner_config::SecretEnv {
            env: "AGENTRY_MODEL_KEY_0".into(),
            secret: "keys".into(),
            key: "openai".into(),
        }];
        let trace_env =
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), "http://collector:4318".to_string())];
        let env = runner_env(&rendered, &trace_env);
        assert_eq!(env[0].name, CONFIG_PATH_ENV);
        let otlp = env.iter().find(|e| e.name == "OTEL_EXPORTER_OTLP_ENDPOINT").expect("the collector");
        assert_eq!(otlp.value.as_deref(), Some("http://collector:4318"));
        assert_eq!(env[0].value.as_deref(), Some("/etc/agentry/runner.json"));
        let key = env.iter().find(|e| e.name == "AGENTRY_MODEL_KEY_0").expect("key variable");
        let selector =
            key.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).expect("from a Secret");
        assert_eq!((selector.name.as_str(), selector.key.as_str()), ("keys", "openai"));
        assert_eq!(key.value, None, "the value never appears in the Deployment");
    }
}
