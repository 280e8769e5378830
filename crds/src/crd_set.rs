//! The CustomResourceDefinitions of every kind, as objects and as YAML files.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{Agent, MemoryStore, Model, Session, Tool};

/// Every Agentry CRD, in the order they are best applied.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![Model::crd(), Tool::crd(), MemoryStore::crd(), Agent::crd(), Session::crd()]
}

/// Each CRD as `(file name, YAML)`, the file named `<group>_<plural>.yaml` as kubebuilder does.
pub fn crds_yaml() -> Result<Vec<(String, String)>, serde_yaml::Error> {
    all_crds()
        .iter()
        .map(|crd| {
            let file = format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural);
            Ok((file, serde_yaml::to_string(crd)?))
        })
        .collect()
}
