//! The objects behind the API, as kube-apiserver's generic registry and storage keep them: the
//! store with its global `resourceVersion` and change history, the cluster state behind one lock,
//! the write path (create, update, the rules on server-owned fields, CRDs coming and going), and the fan-out of changes to watches.

pub(crate) mod cluster_state;
pub(crate) mod crd_lifecycle;
pub(crate) mod object_lifecycle;
pub(crate) mod store;
pub(crate) mod watch_fan_out;
pub(crate) mod write_rules;
