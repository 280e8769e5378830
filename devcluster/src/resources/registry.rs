//! The registry of served resources: the built-in kinds, plus those of established CRDs, by
//! group, version and plural (the URL path's names).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::description::{ResourceDesc, StorageKey};

/// The resources being served: the built-in ones, plus those of established CRDs.
#[derive(Default)]
pub(crate) struct Registry {
    /// By (group, version, plural).
    resources: BTreeMap<(String, String, String), Arc<ResourceDesc>>,
    /// Which CRD (by name) contributed which resources, to remove them when it goes.
    by_crd: BTreeMap<String, Vec<(String, String, String)>>,
}

impl Registry {
    /// A registry with the built-in kinds.
    pub(crate) fn with_builtins() -> Self {
        let mut registry = Self::default();
        for desc in super::builtin_kinds::all() {
            registry.insert(desc);
        }
        registry
    }

    fn insert(&mut self, desc: ResourceDesc) {
        let key = (desc.group.clone(), desc.version.clone(), desc.plural.clone());
        self.resources.insert(key, Arc::new(desc));
    }

    /// The resource at `group/version/plural`.
    pub(crate) fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDesc>> {
        self.resources.get(&(group.to_owned(), version.to_owned(), plural.to_owned())).cloned()
    }

    /// The resource serving `apiVersion`/`kind`, for objects that name others (owner references).
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceDesc>> {
        self.resources.values().find(|d| d.api_version() == api_version && d.kind == kind).cloned()
    }

    /// The preferred (first served) version of a stored resource, for internal reads.
    pub(crate) fn by_storage(&self, key: &StorageKey) -> Option<Arc<ResourceDesc>> {
        self.resources.values().find(|d| d.storage_key() == *key && !d.is_events_view()).cloned()
    }

    /// Every served resource.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<ResourceDesc>> {
        self.resources.values()
    }

    /// The served group versions, group by group: `(group, [versions])`, core group first.
    pub(crate) fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (group, version, _) in self.resources.keys() {
            match out.iter_mut().find(|(g, _)| g == group) {
                Some((_, versions)) if !versions.contains(version) => versions.push(version.clone()),
                Some(_) => {}
                None => out.push((group.clone(), vec![version.clone()])),
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    /// Replace the resources served for CRD `crd_name` with `descs`.
    pub(crate) fn set_crd(&mut self, crd_name: &str, descs: Vec<ResourceDesc>) {
        self.remove_crd(crd_name);
        let keys = descs.iter().map(|d| (d.group.clone(), d.version.clone(), d.plural.clone())).collect();
        for desc in descs {
            self.insert(desc);
        }
        self.by_crd.insert(crd_name.to_owned(), keys);
    }

    /// Stop serving CRD `crd_name`'s resources.
    pub(crate) fn remove_crd(&mut self, crd_name: &str) {
        for key in self.by_crd.remove(crd_name).unwrap_or_default() {
            self.resources.remove(&key);
        }
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first (`v2` > `v1` > `v1beta2`).
fn version_priority(version: &str) -> (u8, u32, u32) {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, minor)
}
