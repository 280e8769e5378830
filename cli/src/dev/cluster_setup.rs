//! What `agentry dev` puts into the fresh devcluster: the Agentry CRDs, the API's Service (with
//! Endpoints at the operator's API port, as a cluster's Endpoints controller would write them)
//! and any manifests (the samples), all with server-side apply.

use std::path::Path;

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::{Value, json};

/// The field manager of everything `agentry dev` applies.
const FIELD_MANAGER: &str = "agentry-dev";
/// Where `agentry` looks for the API by default (its `--api-namespace` and `--api-service`).
const API_NAMESPACE: &str = "agentry-system";
const API_SERVICE: &str = "agentry-api";

/// A client of the cluster `kubeconfig` describes.
pub(crate) async fn client(kubeconfig: &Path) -> anyhow::Result<Client> {
    let read =
        Kubeconfig::read_from(kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(read, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("using {}", kubeconfig.display()))?;
    Client::try_from(config).context("connecting to devcluster")
}

/// Applies the CRDs of every Agentry kind.
pub(crate) async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in agentry_crds::all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd))
            .await
            .with_context(|| format!("installing CRD {name}"))?;
    }
    Ok(())
}

/// The Service `agentry-system/agentry-api` (port `http`) and its Endpoints at `api_port` on
/// 127.0.0.1, so `agentry` reaches the API through the service proxy as on a cluster.
pub(crate) async fn install_api_service(client: &Client, api_port: u16) -> anyhow::Result<()> {
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": API_NAMESPACE}});
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": API_SERVICE, "namespace": API_NAMESPACE},
        "spec": {"selector": {"app.kubernetes.io/name": "agentry-operator"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8081}]},
    });
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": API_SERVICE, "namespace": API_NAMESPACE},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": api_port}]}],
    });
    apply_all(client, &[namespace, service, endpoints]).await.context("installing the API's Service")
}

/// Applies each manifest in order (Namespaces first, as they come).
pub(crate) async fn apply_all(client: &Client, docs: &[Value]) -> anyhow::Result<()> {
    for doc in docs {
        apply(client, doc).await?;
    }
    Ok(())
}

async fn apply(client: &Client, doc: &Value) -> anyhow::Result<()> {
    let kind = doc["kind"].as_str().context("a manifest without kind")?;
    let name = doc["metadata"]["name"].as_str().with_context(|| format!("a {kind} without metadata.name"))?;
    let api_version =
        doc["apiVersion"].as_str().with_context(|| format!("{kind} {name} without apiVersion"))?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(doc))
        .await
        .with_context(|| format!("applying {kind} {name}"))?;
    Ok(())
}
