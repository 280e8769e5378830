//! Admission of custom resources against their CRD version's `openAPIV3Schema`, as kube-apiserver
//! (apiextensions-apiserver) does it: prune unknown fields, apply defaults, validate the values
//! (OpenAPI v3 with Kubernetes extensions), check list-type and embedded-resource invariants, then
//! evaluate the CEL `x-kubernetes-validations`; failures are worded as the apiserver words them.

mod cel_rules;
mod cel_validation;
mod formats;
mod invalid;
mod invariants;
mod openapi_validation;
mod pruning;
mod schema_error;
mod structural;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use invalid::{CauseReason, FieldCause, Invalid};
pub use schema_error::SchemaError;

use invalid::FieldPath;
use openapi_validation::OpenApiSchema;
use structural::Structural;

/// A CRD version's schema, compiled once, used to admit objects of that version.
pub struct CrdSchema {
    structural: Structural,
    openapi: OpenApiSchema,
    /// The apiserver only builds a CEL validator (and so only reports skipped rules) when there are rules.
    has_rules: bool,
}

impl CrdSchema {
    /// Compile from the `openAPIV3Schema` JSON. Errors if the JSON Schema translation does not compile,
    /// or a CEL rule does not compile (naming the rule).
    pub fn compile(open_api_v3_schema: &Value) -> Result<Self, SchemaError> {
        let structural = Structural::compile(open_api_v3_schema)?;
        Ok(Self {
            has_rules: structural.has_rules(),
            openapi: OpenApiSchema::compile(open_api_v3_schema)?,
            structural,
        })
    }

    /// Admit an object for create (`old` = `None`) or update (`old` = the stored object):
    /// prune unknown fields, apply defaults, validate, evaluate CEL rules (with `oldSelf` on update).
    /// Returns the pruned and defaulted object, or every failure found.
    ///
    /// As in the apiserver, CEL rules are skipped (with a cause saying so) when the object has a
    /// missing, mistyped, unsupported or oversized value; and on update, failures in parts of the
    /// object that did not change are ignored (validation ratcheting).
    pub fn admit(&self, object: &Value, old: Option<&Value>) -> Result<Value, Invalid> {
        let (object, _) = self.normalize(object);
        let old = old.map(|o| self.normalize(o).0);
        let old = old.as_ref();

        let mut located = self.openapi.causes(&object);
        invariants::int32_causes(&object, &self.structural, &mut Vec::new(), &mut located);
        let mut causes: Vec<FieldCause> = located
            .into_iter()
            .filter(|(at, _)| !old.is_some_and(|o| self.structural.unchanged(&object, o, at)))
            .map(|(_, cause)| cause)
            .collect();
        invariants::embedded_causes(&object, &self.structural, &FieldPath::root(), &mut causes);
        // Ratcheting for list types is all or nothing: checked unless the old object already broke them.
        if old.is_none_or(|o| self.list_type_causes(o).is_empty()) {
            causes.extend(self.list_type_causes(&object));
        }
        if self.has_rules {
            if causes.iter().any(|c| c.reason.blocks_cel()) {
                // kube-apiserver prints this line's nil value bare: `<nil>: Invalid value: null: …`.
                causes.push(FieldCause::invalid_without_value(
                    &FieldPath::root(),
                    "null: some validation rules were not checked because the object was invalid; \
                     correct the existing errors to complete validation",
                ));
            } else {
                causes.extend(cel_validation::cel_causes(&self.structural, &object, old));
            }
        }
        if causes.is_empty() { Ok(object) } else { Err(Invalid { causes }) }
    }

    /// The fields admission would prune from `object`, e.g. `spec.foo` — what a server reports for
    /// `fieldValidation=Strict` (`unknown field "spec.foo"`) or `Warn`.
    pub fn unknown_fields(&self, object: &Value) -> Vec<String> {
        self.normalize(object).1
    }

    /// Pruned, null-pruned and defaulted, with the pruned paths.
    fn normalize(&self, object: &Value) -> (Value, Vec<String>) {
        let mut object = object.clone();
        let pruned = pruning::prune_unknown(&mut object, &self.structural);
        pruning::prune_nulls(&mut object, Some(&self.structural));
        pruning::apply_defaults(&mut object, &self.structural);
        (object, pruned)
    }

    fn list_type_causes(&self, object: &Value) -> Vec<FieldCause> {
        let mut out = Vec::new();
        invariants::list_type_causes(object, &self.structural, &FieldPath::root(), &mut out);
        out
    }
}
