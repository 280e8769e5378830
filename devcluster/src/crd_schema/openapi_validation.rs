//! OpenAPI v3 value validation (what kube-openapi's `validate.SchemaValidator` does for the apiserver),
//! done by the `jsonschema` crate on a JSON Schema translation and reported in kube-openapi's words
//! as apiextensions' `kubeOpenAPIResultToFieldErrors` converts them.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, PatternOptions, ValidationError, Validator};
use serde_json::{Map, Value, json};

use super::formats::{CUSTOM_FORMATS, json_schema_format};
use super::invalid::{FieldCause, FieldPath, go_float, go_quote, go_value};
use super::invariants::openapi_path;
use super::schema_error::SchemaError;
use super::structural::Segment;

/// A compiled OpenAPI schema.
pub(crate) struct OpenApiSchema {
    validator: Validator,
    /// The untranslated schema, for the original spelling of `format`s in messages.
    original: Value,
}

impl OpenApiSchema {
    /// Translate and compile.
    pub(crate) fn compile(schema: &Value) -> Result<Self, SchemaError> {
        // Draft 7 counts 1.0 as an integer, as kube-openapi does; the regex engine is RE2-like, as Go's.
        let mut options = jsonschema::options()
            .with_draft(Draft::Draft7)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .with_pattern_options(PatternOptions::regex());
        for (name, check) in CUSTOM_FORMATS {
            options = options.with_format(name, check);
        }
        let validator =
            options.build(&translate(schema)).map_err(|e| SchemaError::JsonSchema(e.to_string()))?;
        Ok(Self { validator, original: schema.clone() })
    }

    /// Every failure of `object`, each with the path of the value that raised it (for ratcheting).
    pub(crate) fn causes(&self, object: &Value) -> Vec<(Vec<Segment>, FieldCause)> {
        let errors: Vec<ValidationError<'_>> = self.validator.iter_errors(object).collect();
        let mut out = Vec::new();
        for error in first_string_error_only(&errors) {
            self.convert(error, object, &mut out);
        }
        out
    }

    /// The causes of one failure (and, for a failed `anyOf`/`oneOf`, those of its closest branch).
    fn convert(&self, e: &ValidationError<'_>, root: &Value, out: &mut Vec<(Vec<Segment>, FieldCause)>) {
        let at = segments(root, e.instance_path().as_str());
        let path = openapi_path(&at);
        let causes = match e.kind() {
            ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
                out.push((at, junctor_cause(e.kind(), path.name())));
                // kube-openapi follows a junctor failure with those of the branch that came closest.
                if let Some(closest) = context.iter().min_by_key(|branch| branch.len()) {
                    for inner in closest {
                        self.convert(inner, root, out);
                    }
                }
                return;
            }
            ValidationErrorKind::OneOfMultipleValid { .. } | ValidationErrorKind::Not { .. } => {
                vec![junctor_cause(e.kind(), path.name())]
            }
            _ => self.value_causes(e, &path),
        };
        out.extend(causes.into_iter().map(|cause| (at.clone(), cause)));
    }

    /// The causes of a failure of the value at `path` itself.
    fn value_causes(&self, e: &ValidationError<'_>, path: &FieldPath) -> Vec<FieldCause> {
        let name = path.name();
        let value = e.instance().as_ref();
        let body = |rest: &str| format!("{name} in body {rest}");
        let cause = match e.kind() {
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
                FieldCause::required(&path.child(&property), "")
            }
            ValidationErrorKind::Enum { options } => {
                let supported: Vec<String> = options
                    .as_array()
                    .map(|o| {
                        o.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect()
                    })
                    .unwrap_or_default();
                FieldCause::not_supported(path, value, &supported)
            }
            ValidationErrorKind::Type { kind } => {
                let expected: Vec<&str> = match kind {
                    TypeKind::Single(t) => vec![t.as_str()],
                    TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).collect(),
                };
                // `null` is only there for `nullable`, which kube-openapi does not spell out.
                let expected: Vec<&str> = expected.into_iter().filter(|t| *t != "null").collect();
                let actual = json_type(value);
                let detail = body(&format!("must be of type {}: {}", expected.join(","), go_quote(actual)));
                FieldCause::type_invalid(path, &json!(actual), &detail)
            }
            ValidationErrorKind::Format { format } => {
                let format = self.original_format(e).unwrap_or_else(|| format.clone());
                let data = value.as_str().unwrap_or_default();
                let detail = body(&format!("must be of type {format}: {}", go_quote(data)));
                FieldCause::type_invalid(path, value, &detail)
            }
            ValidationErrorKind::UniqueItems => {
                FieldCause::invalid(path, &json!(""), &body("shouldn't contain duplicates"))
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                return unexpected
                    .iter()
                    .map(|key| {
                        let detail = format!("{name}.{key} in body is a forbidden property");
                        FieldCause::invalid(path, &json!(key), &detail)
                    })
                    .collect();
            }
            kind => limit_cause(kind, path, value)
                .unwrap_or_else(|| FieldCause::invalid(path, &json!(""), &e.to_string())),
        };
        vec![cause]
    }

    /// The `format` as the CRD spells it, found beside the failing keyword.
    fn original_format(&self, e: &ValidationError<'_>) -> Option<String> {
        let keyword = e.schema_path().as_str();
        let parent = keyword.rsplit_once('/').map_or("", |(parent, _)| parent);
        let format = self.original.pointer(parent)?.get("format")?.as_str()?;
        Some(format.to_owned())
    }
}

/// A bound, length or count the value breaks, as kube-openapi words it.
fn limit_cause(kind: &ValidationErrorKind, path: &FieldPath, value: &Value) -> Option<FieldCause> {
    let body = |rest: String| format!("{} in body {rest}", path.name());
    let invalid = |rest: String| FieldCause::invalid(path, value, &body(rest));
    let count_invalid = |rest: String| FieldCause::invalid(path, &json!(len(value)), &body(rest));
    Some(match kind {
        ValidationErrorKind::Minimum { limit } => {
            invalid(format!("should be greater than or equal to {}", go_value(limit)))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            invalid(format!("should be greater than {}", go_value(limit)))
        }
        ValidationErrorKind::Maximum { limit } => {
            invalid(format!("should be less than or equal to {}", go_value(limit)))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            invalid(format!("should be less than {}", go_value(limit)))
        }
        ValidationErrorKind::MultipleOf { multiple_of } => {
            invalid(format!("should be a multiple of {}", go_float(*multiple_of)))
        }
        ValidationErrorKind::MaxLength { limit } => FieldCause::too_long(path, *limit),
        ValidationErrorKind::MinLength { limit } => invalid(format!("should be at least {limit} chars long")),
        ValidationErrorKind::Pattern { pattern } => invalid(format!("should match '{pattern}'")),
        ValidationErrorKind::MaxItems { limit } | ValidationErrorKind::MaxProperties { limit } => {
            FieldCause::too_many(path, len(value), *limit)
        }
        ValidationErrorKind::MinItems { limit } => {
            count_invalid(format!("should have at least {limit} items"))
        }
        ValidationErrorKind::MinProperties { limit } => {
            count_invalid(format!("should have at least {limit} properties"))
        }
        _ => return None,
    })
}

/// kube-openapi reports junctor failures as plain errors, which land on no field (`<nil>`).
fn junctor_cause(kind: &ValidationErrorKind, name: &str) -> FieldCause {
    let detail = match kind {
        ValidationErrorKind::AnyOf { .. } => format!("\"{name}\" must validate at least one schema (anyOf)"),
        ValidationErrorKind::OneOfMultipleValid { context } => {
            let valid = context.iter().filter(|branch| branch.is_empty()).count();
            format!(
                "\"{name}\" must validate one and only one schema (oneOf). Found {valid} valid alternatives"
            )
        }
        ValidationErrorKind::Not { .. } => format!("\"{name}\" must not validate the schema (not)"),
        _ => format!("\"{name}\" must validate one and only one schema (oneOf). Found none valid"),
    };
    FieldCause::invalid(&FieldPath::root(), &json!(""), &detail)
}

/// kube-openapi stops at the first of `maxLength`, `minLength`, `pattern` that fails for a string.
fn first_string_error_only<'a, 'i>(errors: &'a [ValidationError<'i>]) -> Vec<&'a ValidationError<'i>> {
    let failed = |path: &str, which: fn(&ValidationErrorKind) -> bool| {
        errors.iter().any(|e| e.instance_path().as_str() == path && which(e.kind()))
    };
    let max_length = |k: &ValidationErrorKind| matches!(k, ValidationErrorKind::MaxLength { .. });
    let min_length = |k: &ValidationErrorKind| matches!(k, ValidationErrorKind::MinLength { .. });
    errors
        .iter()
        .filter(|e| {
            let path = e.instance_path().as_str();
            match e.kind() {
                ValidationErrorKind::MinLength { .. } => !failed(path, max_length),
                ValidationErrorKind::Pattern { .. } => !failed(path, max_length) && !failed(path, min_length),
                _ => true,
            }
        })
        .collect()
}

/// Turn a JSON pointer into path segments, telling list indexes from numeric map keys by the data.
fn segments(root: &Value, pointer: &str) -> Vec<Segment> {
    let mut at = Vec::new();
    let mut current = Some(root);
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        match (current, token.parse::<usize>()) {
            (Some(Value::Array(items)), Ok(i)) => {
                current = items.get(i);
                at.push(Segment::Index(i));
            }
            _ => {
                current = current.and_then(|c| c.get(&token));
                at.push(Segment::Field(token));
            }
        }
    }
    at
}

/// The JSON type name kube-openapi reports for a value.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn len(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        _ => 0,
    }
}

/// OpenAPI v3 + Kubernetes extensions → JSON Schema draft 7. Keeps the layout (`properties`, `items`,
/// `allOf`, …) so schema paths of errors point into the original as well.
fn translate(schema: &Value) -> Value {
    let Some(node) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    let flag = |name: &str| node.get(name).and_then(Value::as_bool).unwrap_or(false);
    for (key, value) in node {
        match key.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                let translated =
                    value.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), translate(v))).collect());
                out.insert(key.clone(), translated.map_or_else(|| value.clone(), Value::Object));
            }
            "items" | "additionalProperties" | "additionalItems" | "not" => {
                let translated = match value {
                    Value::Array(list) => Value::Array(list.iter().map(translate).collect()),
                    other => translate(other),
                };
                out.insert(key.clone(), translated);
            }
            "allOf" | "anyOf" | "oneOf" => {
                let translated = value.as_array().map(|list| list.iter().map(translate).collect());
                out.insert(key.clone(), translated.map_or_else(|| value.clone(), Value::Array));
            }
            // OpenAPI v3 (draft 4) spells exclusive bounds as booleans beside the bound.
            "minimum" if flag("exclusiveMinimum") => {
                out.insert("exclusiveMinimum".into(), value.clone());
            }
            "maximum" if flag("exclusiveMaximum") => {
                out.insert("exclusiveMaximum".into(), value.clone());
            }
            "minimum" | "maximum" | "multipleOf" | "required" | "enum" | "minLength" | "maxLength"
            | "pattern" | "minItems" | "maxItems" | "uniqueItems" | "minProperties" | "maxProperties" => {
                out.insert(key.clone(), value.clone());
            }
            // Everything else is annotation or handled below and elsewhere (pruning, defaulting, CEL).
            _ => {}
        }
    }
    let type_name = node.get("type").and_then(Value::as_str);
    let mut types: Vec<&str> = if flag("x-kubernetes-int-or-string") {
        vec!["integer", "string"]
    } else {
        type_name.into_iter().collect()
    };
    if !types.is_empty() {
        if flag("nullable") {
            types.push("null");
        }
        out.insert("type".into(), json!(types));
    }
    let format = node.get("format").and_then(Value::as_str);
    if let Some(format) =
        format.filter(|_| matches!(type_name, None | Some("string"))).and_then(json_schema_format)
    {
        out.insert("format".into(), json!(format));
    }
    Value::Object(out)
}
