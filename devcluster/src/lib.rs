//! devcluster: an in-process Kubernetes API server that kube-rs and `kubectl` talk to over HTTP
//! on 127.0.0.1, with a pod simulator that runs the agent-runner binary for the pods of runner
//! Deployments. It is a test and development tool whose worth is its fidelity to kube-apiserver;
//! where it deliberately differs, the README of this crate says so.
//!
//! Start one with [`DevCluster::start`]; point kubectl at [`DevCluster::kubeconfig_path`].

#![warn(missing_docs)]

pub mod admission;
pub mod api_error;
pub mod api_server;
pub mod auth_reviews;
pub mod base64;
pub mod crd_schema;
pub mod dev_cluster;
pub mod discovery;
pub mod field_management;
pub mod garbage_collection;
pub mod handlers;
pub mod kubeconfig;
pub mod pod_logs;
pub mod pod_simulator;
pub mod request;
pub mod resources;
pub mod router;
pub mod selectors;
pub mod storage;
pub mod time;

pub use auth_reviews::{Permission, ReviewPolicy, UserInfo};
pub use crd_schema::{CauseReason, CrdSchema, FieldCause, Invalid, SchemaError};
pub use dev_cluster::{DevCluster, DevClusterError, DevClusterOptions};
