//! A reference to one key of a Secret in the object's namespace.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::names::{DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN};

/// Selects one key of a Secret in the same namespace. Secrets reach runner pods only as
/// `secretKeyRef` environment variables, never through ConfigMaps or status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("size(self.name) > 0 && size(self.key) > 0").message("a Secret reference needs both name and key"))]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: String,
}
