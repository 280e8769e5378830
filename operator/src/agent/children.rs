//! The objects the operator writes for an Agent: its runner ConfigMap, Deployment, Service and
//! NetworkPolicy. Pure builders; the controller applies them with server-side apply.

use std::collections::BTreeMap;

use agentry_crds::Agent;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::agent::runner_config::{CONFIG_KEY, CONFIG_MOUNT_DIR, Rendered};
use crate::runtime::settings::OperatorSettings;

/// Version of what these builders write; bump it when a change to them must reach existing
/// runners (it is part of the config hash).
pub const CHILDREN_VERSION: &str = "1";

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

/// The runner Deployment.
pub fn deployment(agent: &Agent, rendered: &Rendered, hash: &str, settings: &OperatorSettings) -> Deployment {
    let spec = &agent.spec;
    let overrides = spec.pod_template.clone().unwrap_or_default();
    let port = i32::from(settings.runner_http_port);
    let mut env = vec![
        EnvVar {
            name: "AGENTRY_CONFIG".into(),
            value: Some(format!("{CONFIG_MOUNT_DIR}/{CONFIG_KEY}")),
            ..EnvVar::default()
        },
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
    ];
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
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let container = Container {
        name: "runner".into(),
        image: Some(spec.image.clone().unwrap_or_else(|| settings.runner_image.clone())),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe("/readyz", 5)),
        liveness_probe: Some(probe("/healthz", 10)),
        resources: spec.resources.clone(),
        volume_mounts: Some(vec![VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_MOUNT_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Capabilities::default() }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let mut pod_labels = labels(agent);
    pod_labels.extend(overrides.labels.clone());
    // Our labels win: the selector depends on them.
    pod_labels.extend(labels(agent));
    let mut pod_annotations = overrides.annotations.clone();
    pod_annotations.insert(CONFIG_HASH_ANNOTATION.into(), hash.into());
    let replicas = if spec.paused { 0 } else { spec.replicas };
    Deployment {
        metadata: metadata(agent, agent.name_any()),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(selector(agent)), ..LabelSelector::default() },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "config".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: config_map_name(agent),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    // The runner drains for its grace period; the kubelet waits a little longer.
                    termination_grace_period_seconds: Some(rendered.config.shutdown_grace_seconds as i64 + 5),
                    automount_service_account_token: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    service_account_name: overrides.service_account_name.clone(),
                    node_selector: (!overrides.node_selector.is_empty())
                        .then(|| overrides.node_selector.clone()),
                    tolerations: (!overrides.tolerations.is_empty()).then(|| overrides.tolerations.clone()),
                    affinity: overrides.affinity.clone(),
                    priority_class_name: overrides.priority_class_name.clone(),
                    image_pull_secrets: (!overrides.image_pull_secrets.is_empty())
                        .then(|| overrides.image_pull_secrets.clone()),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
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

/// The NetworkPolicy: scrapes in on the metrics port; out only to DNS, NATS, PostgreSQL (with a
/// MemoryStore) and the ports of the model and tool endpoints. NetworkPolicy cannot name hosts,
/// so egress is limited by port.
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
    let mut egress_ports = vec![
        NetworkPolicyPort {
            port: Some(IntOrString::Int(53)),
            protocol: Some("UDP".into()),
            ..NetworkPolicyPort::default()
        },
        tcp(53),
        tcp(i32::from(settings.nats_port)),
    ];
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
            egress: Some(vec![NetworkPolicyEgressRule {
                ports: Some(egress_ports),
                ..NetworkPolicyEgressRule::default()
            }]),
        }),
    }
}
