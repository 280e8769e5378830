//! devcluster: an in-process Kubernetes API server that kube-rs and `kubectl` talk to over HTTP
//! on 127.0.0.1, with a pod simulator that runs the agent-runner binary for the pods of runner
//! Deployments. It is a test and development tool whose worth is its fidelity to kube-apiserver;
//! where it deliberately differs, the README of this crate says so.
//!
//! Start one with [`DevCluster::start`]; point kubectl at [`DevCluster::kubeconfig_path`].

mod admission;
mod api_error;
mod api_server;
mod auth_reviews;
mod authentication;
mod authorization;
mod base64;
mod crd_schema;
mod dev_cluster;
mod discovery;
mod field_management;
mod garbage_collection;
mod handlers;
mod kubeconfig;
mod pod_logs;
mod pod_simulator;
mod request;
mod resources;
mod router;
mod selectors;
mod service_proxy;
mod storage;
mod time;

pub use auth_reviews::{Permission, ReviewPolicy, UserInfo};
pub use crd_schema::{CauseReason, CrdSchema, FieldCause, Invalid, SchemaError};
pub use dev_cluster::{DevCluster, DevClusterError, DevClusterOptions, ImageBinary};
