//! An in-process Kubernetes API server for tests and `agentry dev`; so far: CRD schema admission
//! ([`CrdSchema`]), which prunes, defaults and validates custom resources as kube-apiserver does.

pub mod crd_schema;

pub use crd_schema::{CauseReason, CrdSchema, FieldCause, Invalid, SchemaError};
