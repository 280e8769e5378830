//! Writes as the apiserver's generic registry performs them: create (with `generateName`),
//! update with optimistic concurrency, the status subresource's split, `metadata.generation`,
//! `managedFields`, and the finalizer rules of objects being deleted (deletes: `deletion`).

use serde_json::{Value, json};

use super::cluster_state::{ClusterState, present};
use super::store::Change;
use crate::api_error::{ApiError, ApiResult};
use crate::field_management::Scope;
use crate::field_management::managed_fields;
use crate::resources::ResourceDesc;

/// How a write is made.
#[derive(Clone, Debug)]
pub(crate) struct WriteOptions {
    /// The field manager (`fieldManager`, else derived from the user agent).
    pub(crate) manager: String,
    /// Main resource or `/status`.
    pub(crate) scope: Scope,
    /// `dryRun=All`: validate and answer, store nothing.
    pub(crate) dry_run: bool,
    /// `managedFields` were already computed (server-side apply), do not record an update.
    pub(crate) managed_precomputed: bool,
}

impl WriteOptions {
    /// A write by the server itself (controllers, simulator).
    pub(crate) fn system() -> Self {
        Self { manager: "devcluster".into(), scope: Scope::Main, dry_run: false, managed_precomputed: false }
    }
}

impl ClusterState {
    /// A cluster with the namespaces every cluster has.
    pub(crate) fn with_builtin_namespaces(history_limit: usize) -> Self {
        let mut state = Self::empty(history_limit);
        if let Some(desc) = state.registry.get("", "v1", "namespaces") {
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                if let Err(err) = state.create(&desc, None, object, &WriteOptions::system()) {
                    tracing::error!(%err, name, "cannot create a built-in namespace");
                }
            }
        }
        state
    }

    /// Create an object in `namespace`.
    pub(crate) fn create(
        &mut self,
        desc: &ResourceDesc,
        namespace: Option<&str>,
        mut object: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the body of the request must be an object"));
        }
        check_type(desc, &object)?;
        if desc.is_events_view() {
            object = crate::resources::event_conversion::to_core(object);
        }
        object["apiVersion"] = json!(desc.api_version());
        object["kind"] = json!(desc.kind);
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        let namespace = if desc.namespaced {
            let ns = namespace.unwrap_or("default");
            if let Some(body_ns) = object["metadata"]["namespace"].as_str()
                && !body_ns.is_empty()
                && body_ns != ns
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            object["metadata"]["namespace"] = json!(ns);
            Some(ns.to_owned())
        } else {
            if let Some(meta) = object["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
            None
        };
        if object["metadata"]["name"].as_str().is_none_or(str::is_empty)
            && let Some(prefix) = object["metadata"]["generateName"].as_str()
        {
            object["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix()));
        }
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        if let Some(ns) = &namespace {
            let ns_desc = self.registry.get("", "v1", "namespaces");
            match (self.namespace_status(ns), ns_desc) {
                (None, Some(nd)) => return Err(ApiError::not_found(&nd, ns)),
                (Some(true), Some(nd)) => {
                    return Err(ApiError::forbidden(
                        desc,
                        &name,
                        &format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    )
                    .with_reason_details(&nd, ns));
                }
                _ => {}
            }
        }
        if let Some(meta) = object["metadata"].as_object_mut() {
            for field in
                ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation", "selfLink"]
            {
                meta.remove(field);
            }
            meta.remove("deletionGracePeriodSeconds");
        }
        if desc.status_subresource && opts.scope == Scope::Main && desc.custom {
            // Creating a custom resource with a status subresource ignores the status given.
            object.as_object_mut().map(|o| o.remove("status"));
        }
        let mut object = crate::admission::admit(desc, object, None)?;
        if self.store.get(&desc.storage_key(), namespace.as_deref().unwrap_or_default(), &name).is_some() {
            return Err(ApiError::already_exists(desc, &name));
        }
        if desc.kind == "CustomResourceDefinition" {
            crate::admission::crd_validation::validate(desc, &object)?;
        }
        object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        object["metadata"]["creationTimestamp"] = json!(crate::time::now());
        if desc.generation {
            object["metadata"]["generation"] = json!(1);
        }
        if !opts.managed_precomputed {
            managed_fields::record_update(desc, None, &mut object, &opts.manager, opts.scope);
        }
        if opts.dry_run {
            return Ok(object);
        }
        let stored = self.store.put(&desc.storage_key(), object, Change::Added);
        self.after_write(desc, &stored);
        Ok(present(desc, stored))
    }

    /// Replace an object (PUT, or the result of a patch): `new` is the whole desired object.
    pub(crate) fn update(
        &mut self,
        desc: &ResourceDesc,
        namespace: Option<&str>,
        name: &str,
        mut new: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let mut old = self.get(desc, namespace, name)?;
        if !new.is_object() {
            return Err(ApiError::bad_request("the body of the request must be an object"));
        }
        check_type(desc, &new)?;
        if desc.is_events_view() {
            // Work on the stored (core/v1) form; answers are converted back by `present`.
            old = crate::resources::event_conversion::to_core(old);
            new = crate::resources::event_conversion::to_core(new);
        }
        if let Some(body_name) = new["metadata"]["name"].as_str()
            && !body_name.is_empty()
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        match new["metadata"]["resourceVersion"].as_str() {
            Some(rv) if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() => {
                return Err(ApiError::stale(desc, name));
            }
            _ => {}
        }
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        let managed = new["metadata"]["managedFields"].take();
        if opts.scope == Scope::Status {
            let status = new.get("status").cloned();
            new = old.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    new.as_object_mut().map(|o| o.remove("status"));
                }
            }
        } else if desc.status_subresource {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().map(|o| o.remove("status"));
                }
            }
        }
        if opts.managed_precomputed {
            new["metadata"]["managedFields"] = managed;
        } else {
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match old["metadata"].get(field) {
                Some(v) => new["metadata"][field] = v.clone(),
                None => {
                    new["metadata"].as_object_mut().map(|m| m.remove(field));
                }
            }
        }
        if !old["metadata"]["deletionTimestamp"].is_null() {
            let old_finalizers = string_list(&old["metadata"]["finalizers"]);
            if string_list(&new["metadata"]["finalizers"]).iter().any(|f| !old_finalizers.contains(f)) {
                let cause = crate::crd_schema::FieldCause {
                    field: "metadata.finalizers".into(),
                    reason: crate::crd_schema::CauseReason::FieldValueForbidden,
                    message: "Forbidden: no new finalizers can be added if the object is being deleted"
                        .into(),
                };
                return Err(ApiError::invalid(
                    desc,
                    name,
                    &crate::crd_schema::Invalid { causes: vec![cause] },
                ));
            }
        }
        let mut new = crate::admission::admit(desc, new, Some(&old))?;
        if desc.kind == "CustomResourceDefinition" {
            crate::admission::crd_validation::validate(desc, &new)?;
        }
        if desc.generation && spec_changed(&old, &new) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(generation);
        }
        if !opts.managed_precomputed {
            managed_fields::record_update(desc, Some(&old), &mut new, &opts.manager, opts.scope);
        }
        if unchanged(&old, &new) || opts.dry_run {
            return Ok(present(desc, if opts.dry_run { new } else { old }));
        }
        let ns = old["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        if !new["metadata"]["deletionTimestamp"].is_null()
            && string_list(&new["metadata"]["finalizers"]).is_empty()
        {
            let removed = self.remove_now(desc, &ns, name);
            self.collect_garbage();
            return Ok(removed.map(|o| present(desc, o)).unwrap_or(new));
        }
        let stored = self.store.put(&desc.storage_key(), new, Change::Modified);
        self.after_write(desc, &stored);
        if !stored["metadata"]["deletionTimestamp"].is_null() {
            self.collect_garbage();
        }
        Ok(present(desc, stored))
    }

    /// Remove from the store now, with the side effects of the kind's going.
    pub(crate) fn remove_now(&mut self, desc: &ResourceDesc, namespace: &str, name: &str) -> Option<Value> {
        let removed = self.store.remove(&desc.storage_key(), namespace, name)?;
        if desc.kind == "CustomResourceDefinition" {
            super::crd_lifecycle::unregister(self, &removed);
        }
        Some(removed)
    }

    pub(crate) fn after_write(&mut self, desc: &ResourceDesc, stored: &Value) {
        if desc.kind == "CustomResourceDefinition" && desc.group == "apiextensions.k8s.io" {
            super::crd_lifecycle::register(self, stored);
        }
    }
}

impl ApiError {
    /// Name the namespace in a namespace-termination `Forbidden`.
    fn with_reason_details(mut self, ns_desc: &ResourceDesc, ns: &str) -> Self {
        self.details = Some(json!({"name": ns, "kind": ns_desc.plural}));
        self
    }
}

fn check_type(desc: &ResourceDesc, object: &Value) -> ApiResult<()> {
    if let Some(api_version) = object["apiVersion"].as_str()
        && api_version != desc.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            desc.api_version()
        )));
    }
    if let Some(kind) = object["kind"].as_str()
        && kind != desc.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            desc.kind
        )));
    }
    Ok(())
}

/// The strings of a JSON list (absent → empty).
pub(crate) fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether anything outside `metadata` and `status` changed: what bumps `metadata.generation`.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            o.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// A write that changes nothing but managedFields timestamps is not stored (no new resourceVersion).
fn unchanged(old: &Value, new: &Value) -> bool {
    let normalize = |v: &Value| {
        let mut v = v.clone();
        if let Some(entries) = v["metadata"]["managedFields"].as_array_mut() {
            for entry in entries {
                entry.as_object_mut().map(|e| e.remove("time"));
            }
        }
        v
    };
    normalize(old) == normalize(new)
}

/// Five characters from the alphabet the apiserver's `generateName` uses.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes.iter().take(5).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}
