//! Why a CRD version's `openAPIV3Schema` cannot be compiled for admission.

/// Why a schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema, translated to JSON Schema, does not compile (e.g. a bad `pattern`).
    #[error("openAPIV3Schema does not compile: {0}")]
    JsonSchema(String),
    /// A CEL rule (or its `messageExpression`) does not compile, or its `fieldPath` names no field.
    #[error("x-kubernetes-validations rule {rule:?} at {location}: {message}")]
    Rule {
        /// Where the rule sits, e.g. `spec.http` (`[*]` for list items and map values).
        location: String,
        /// The rule's expression.
        rule: String,
        /// What is wrong with it.
        message: String,
    },
    /// The schema nests deeper than is followed.
    #[error("openAPIV3Schema nests too deep at {location}")]
    TooDeep {
        /// Where the nesting gave up.
        location: String,
    },
}
