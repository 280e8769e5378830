//! Writes as the apiserver's generic registry performs them: create (with `generateName`),
//! update with optimistic concurrency, the status subresource's split, `metadata.generation`,
//! `managedFields`, and the finalizer rules of objects being deleted (the rules themselves are in
//! `write_rules`; deletes: `garbage_collection`).

use serde_json::{Value, json};

use super::cluster_state::{ClusterState, present};
use super::store::Change;
use super::write_rules;
use crate::admission::crd_validation;
use crate::api_error::{ApiError, ApiResult};
use crate::field_management::Scope;
use crate::field_management::managed_fields;
use crate::resources::ResourceDesc;
use crate::resources::event_conversion::to_core;

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
        object: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        write_rules::check_body(desc, &object)?;
        let mut object = write_rules::stored_form(desc, object);
        let namespace = write_rules::place_in_namespace(desc, namespace, &mut object)?;
        write_rules::generate_name(&mut object);
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        if let Some(ns) = &namespace {
            self.check_namespace_open(desc, ns, &name)?;
        }
        write_rules::clear_server_metadata(&mut object);
        if desc.status_subresource && opts.scope == Scope::Main && desc.custom {
            // Creating a custom resource with a status subresource ignores the status given.
            object.as_object_mut().map(|o| o.remove("status"));
        }
        let mut object = crate::admission::admit(desc, object, None)?;
        if self.store.get(&desc.storage_key(), namespace.as_deref().unwrap_or_default(), &name).is_some() {
            return Err(ApiError::already_exists(desc, &name));
        }
        if desc.kind == "CustomResourceDefinition" {
            crd_validation::validate(desc, &object)?;
        }
        write_rules::stamp_created(desc, &mut object);
        if !opts.managed_precomputed {
            managed_fields::record_update(desc, None, &mut object, &opts.manager, opts.scope);
        }
        if opts.dry_run {
            return Ok(object);
        }
        let stored = self.store.put(&desc.storage_key(), object, Change::Added);
        self.after_write(desc, &stored);
        if self.owners_all_gone(&stored) {
            self.collect_garbage();
        }
        Ok(present(desc, stored))
    }

    /// New content may go into namespace `ns` only while it exists and is not terminating.
    fn check_namespace_open(&self, desc: &ResourceDesc, ns: &str, name: &str) -> ApiResult<()> {
        let ns_desc = self.registry.get("", "v1", "namespaces");
        match (self.namespace_status(ns), ns_desc) {
            (None, Some(nd)) => Err(ApiError::not_found(&nd, ns)),
            (Some(true), Some(nd)) => Err(ApiError::forbidden(
                desc,
                name,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            )
            .with_reason_details(&nd, ns)),
            _ => Ok(()),
        }
    }

    /// Replace an object (PUT, or the result of a patch): `new` is the whole desired object.
    pub(crate) fn update(
        &mut self,
        desc: &ResourceDesc,
        namespace: Option<&str>,
        name: &str,
        new: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let old = self.get(desc, namespace, name)?;
        write_rules::check_body(desc, &new)?;
        // Work on the stored (core/v1) form of Events; answers are converted back by `present`.
        let (old, mut new) = if desc.is_events_view() { (to_core(old), to_core(new)) } else { (old, new) };
        write_rules::check_identity(desc, name, &old, &new)?;
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        let managed = new["metadata"]["managedFields"].take();
        write_rules::keep_status(desc, opts.scope, &old, &mut new);
        new["metadata"]["managedFields"] =
            if opts.managed_precomputed { managed } else { old["metadata"]["managedFields"].clone() };
        write_rules::keep_server_metadata(&old, &mut new);
        write_rules::check_no_new_finalizers(desc, name, &old, &new)?;
        let mut new = crate::admission::admit(desc, new, Some(&old))?;
        if desc.kind == "CustomResourceDefinition" {
            crd_validation::validate(desc, &new)?;
        }
        if desc.generation && write_rules::spec_changed(&old, &new) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(generation);
        }
        if !opts.managed_precomputed {
            managed_fields::record_update(desc, Some(&old), &mut new, &opts.manager, opts.scope);
        }
        if write_rules::unchanged(&old, &new) || opts.dry_run {
            return Ok(present(desc, if opts.dry_run { new } else { old }));
        }
        Ok(self.store_update(desc, name, &old, new))
    }

    /// Store an admitted update; an object being deleted whose last finalizer went is removed.
    fn store_update(&mut self, desc: &ResourceDesc, name: &str, old: &Value, new: Value) -> Value {
        let ns = old["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        // A namespace also waits for its `spec.finalizers` (the namespace controller's).
        let is_namespace = desc.group.is_empty() && desc.kind == "Namespace";
        if !new["metadata"]["deletionTimestamp"].is_null()
            && write_rules::string_list(&new["metadata"]["finalizers"]).is_empty()
            && (!is_namespace || write_rules::string_list(&new["spec"]["finalizers"]).is_empty())
        {
            let removed = self.remove_now(desc, &ns, name);
            self.collect_garbage();
            return removed.map(|o| present(desc, o)).unwrap_or(new);
        }
        let stored = self.store.put(&desc.storage_key(), new, Change::Modified);
        self.after_write(desc, &stored);
        if !stored["metadata"]["deletionTimestamp"].is_null() || self.owners_all_gone(&stored) {
            self.collect_garbage();
        }
        present(desc, stored)
    }

    /// Remove from the store now, with the side effects of the kind's going.
    pub(crate) fn remove_now(&mut self, desc: &ResourceDesc, namespace: &str, name: &str) -> Option<Value> {
        let removed = self.store.remove(&desc.storage_key(), namespace, name)?;
        if desc.kind == "CustomResourceDefinition" {
            super::crd_lifecycle::unregister(self, &removed);
        }
        Some(removed)
    }

    /// The side effects of a stored write: a written CRD serves its resources.
    pub(crate) fn after_write(&mut self, desc: &ResourceDesc, stored: &Value) {
        if desc.kind == "CustomResourceDefinition" && desc.group == "apiextensions.k8s.io" {
            super::crd_lifecycle::register(self, stored);
        }
    }
}
