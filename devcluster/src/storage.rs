//! The objects behind the API, as kube-apiserver's generic registry and storage keep them: the
//! store with its global `resourceVersion` and change history, the cluster state behind one lock,
//! the write path (create, update, CRDs coming and going), and the fan-out of changes to watches.

pub mod cluster_state;
pub mod crd_lifecycle;
pub mod object_lifecycle;
pub mod store;
pub mod watch_fan_out;
