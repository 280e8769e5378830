//! The CEL `x-kubernetes-validations` of one schema node: compiled once with the schema (kube-cel
//! compiles them, and applies schema defaults as the apiserver has by then), evaluated against one
//! value and turned into causes worded as the apiserver words them. Walking the object is
//! `cel_validation`'s job.

use kube_cel::{
    CompilationError, CompilationResult, CompiledSchema, ErrorKind, ValidationError, compile_schema,
};
use serde_json::{Map, Value, json};

use super::invalid::{FieldCause, FieldPath};
use super::schema_error::SchemaError;

/// The rules of one schema node.
#[derive(Debug)]
pub(crate) struct NodeRules {
    /// The node with its own rules only: descendants are walked here, not by kube-cel.
    compiled: CompiledSchema,
    /// The node's `type`, which the apiserver shows as the bad value (`Invalid value: "object"`).
    type_name: String,
    rules: Vec<RuleInfo>,
}

#[derive(Debug)]
struct RuleInfo {
    rule: String,
    /// `fieldPath` as written; kube-cel reports it back as is ("" when absent).
    raw_field_path: String,
    /// `fieldPath` as the apiserver prints it, relative to the node.
    field_path: Option<String>,
    /// How the apiserver names the rule in evaluation errors: its trimmed message, else the rule.
    name: String,
    uses_old_self: bool,
}

impl NodeRules {
    /// Compile the rules `schema` declares (itself and in `allOf`), if any.
    pub(crate) fn compile(
        schema: &Value,
        location: &str,
        type_name: &str,
    ) -> Result<Option<Self>, SchemaError> {
        if !declares_rules(schema) {
            return Ok(None);
        }
        let compiled = compile_schema(&strip_rules(schema, true));
        let results = compiled
            .validations
            .iter()
            .chain(compiled.all_of.iter().flat_map(|branch| branch.validations.iter()));
        let mut rules = Vec::new();
        for result in results {
            match result {
                Ok(compiled_rule) => rules.push(RuleInfo::new(compiled_rule, schema, location)?),
                Err(e) => return Err(compile_error(e, location)),
            }
        }
        Ok(Some(Self { compiled, type_name: type_name.to_owned(), rules }))
    }

    /// Evaluate the rules on `new` (with `old` as `oldSelf`), adding failures at `path`; an
    /// `unchanged` value is only refused by rules that look at `oldSelf` (ratcheting).
    pub(crate) fn evaluate(
        &self,
        new: &Value,
        old: Option<&Value>,
        path: &FieldPath,
        unchanged: bool,
        out: &mut Vec<FieldCause>,
    ) {
        let Err(errors) = kube_cel::validate_compiled(&self.compiled, new, old) else {
            return;
        };
        for error in errors.iter() {
            let info =
                self.rules.iter().find(|r| r.rule == error.rule && r.raw_field_path == error.field_path);
            // Ratcheting: an unchanged part of an updated object is not refused for a rule that does
            // not look at `oldSelf` (the apiserver turns the failure into a warning).
            if unchanged && !info.is_some_and(|i| i.uses_old_self) {
                continue;
            }
            out.push(self.cause(error, info, path, new));
        }
    }

    fn cause(
        &self,
        error: &ValidationError,
        info: Option<&RuleInfo>,
        path: &FieldPath,
        new: &Value,
    ) -> FieldCause {
        // kube-apiserver (1.36) shows a scalar's value (`Invalid value: 0: …`), not an object's or a list's.
        let invalid = |at: &FieldPath, detail: &str| match new {
            Value::Object(_) | Value::Array(_) => FieldCause::invalid_without_value(at, detail),
            scalar => FieldCause::invalid(at, scalar, detail),
        };
        let value = json!(self.type_name);
        let rule_name = info.map_or(error.rule.trim(), |i| i.name.as_str());
        match error.kind {
            ErrorKind::ValidationFailure => {
                let at = match info.and_then(|i| i.field_path.as_deref()) {
                    Some(field_path) => path.child(field_path),
                    None => path.clone(),
                };
                let detail = match error.message.trim() {
                    "" => format!("failed rule: {rule_name}"),
                    message => message.to_owned(),
                };
                match error.reason.as_deref() {
                    Some("FieldValueForbidden") => FieldCause::forbidden(&at, &detail),
                    Some("FieldValueRequired") => FieldCause::required(&at, &detail),
                    Some("FieldValueDuplicate") => FieldCause::duplicate(&at, &value),
                    _ if at != *path => FieldCause::invalid_without_value(&at, &detail),
                    _ => invalid(&at, &detail),
                }
            }
            ErrorKind::EvaluationError => {
                let failure = std::error::Error::source(error)
                    .map_or_else(|| error.message.clone(), ToString::to_string);
                invalid(path, &format!("{failure} evaluating rule: {rule_name}"))
            }
            _ => invalid(path, &error.message),
        }
    }
}

impl RuleInfo {
    fn new(compiled: &CompilationResult, node: &Value, location: &str) -> Result<Self, SchemaError> {
        let rule = &compiled.rule;
        let raw_field_path = rule.field_path.clone().unwrap_or_default();
        let field_path = match raw_field_path.as_str() {
            "" => None,
            raw => Some(normalize_field_path(raw, node).map_err(|e| SchemaError::Rule {
                location: location.to_owned(),
                rule: rule.rule.clone(),
                message: format!("fieldPath {raw:?} must be a valid path: {e}"),
            })?),
        };
        let name = match rule.message.as_deref().map(str::trim) {
            Some(message) if !message.is_empty() => message.to_owned(),
            _ => rule.rule.trim().to_owned(),
        };
        Ok(Self {
            rule: rule.rule.clone(),
            raw_field_path,
            field_path,
            name,
            uses_old_self: compiled.is_transition_rule,
        })
    }
}

fn compile_error(error: &CompilationError, location: &str) -> SchemaError {
    let (rule, message) = match error {
        CompilationError::Parse { rule, source } => (rule.clone(), format!("compilation failed: {source}")),
        CompilationError::MessageExpressionParse { rule, message_expression, source } => {
            (rule.clone(), format!("messageExpression {message_expression:?} compilation failed: {source}"))
        }
        other => (String::new(), other.to_string()),
    };
    SchemaError::Rule { location: location.to_owned(), rule, message }
}

/// Whether the node declares rules itself (`allOf` rules are the node's own too).
fn declares_rules(schema: &Value) -> bool {
    let own = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .is_some_and(|rules| !rules.is_empty());
    own || schema
        .get("allOf")
        .and_then(Value::as_array)
        .is_some_and(|branches| branches.iter().any(declares_rules))
}

/// A copy of the schema without rules below the node (and in `anyOf`/`oneOf`, where the apiserver
/// does not evaluate them); `keep_own` keeps the node's (and its `allOf` branches') rules.
fn strip_rules(schema: &Value, keep_own: bool) -> Value {
    let Some(node) = schema.as_object() else {
        return schema.clone();
    };
    let strip_all = |v: &Value| match v {
        Value::Array(list) => Value::Array(list.iter().map(|s| strip_rules(s, false)).collect()),
        other => strip_rules(other, false),
    };
    let mut out = Map::new();
    for (key, value) in node {
        let value = match key.as_str() {
            "x-kubernetes-validations" if !keep_own => continue,
            "properties" => match value.as_object() {
                Some(props) => {
                    Value::Object(props.iter().map(|(k, v)| (k.clone(), strip_rules(v, false))).collect())
                }
                None => value.clone(),
            },
            "items" | "additionalProperties" | "not" | "anyOf" | "oneOf" => strip_all(value),
            "allOf" => match value.as_array() {
                Some(branches) => Value::Array(branches.iter().map(|b| strip_rules(b, keep_own)).collect()),
                None => value.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// apiextensions `ValidFieldPath`: `.name` and `['name']` steps through `properties` (printed
/// `.name`) or `additionalProperties` (printed `[name]`).
fn normalize_field_path(field_path: &str, schema: &Value) -> Result<String, String> {
    let (mut path, mut schema, mut rest) = (FieldPath::root(), schema, field_path);
    while !rest.is_empty() {
        let name;
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[', ']']).unwrap_or(after.len());
            if end == 0 {
                return Err("unexpected end of JSON path".to_owned());
            }
            name = after[..end].to_owned();
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix("['") {
            let bytes = after.as_bytes();
            let close = (0..bytes.len())
                .find(|&i| bytes[i] == b'\'' && (i == 0 || bytes[i - 1] != b'\\'))
                .ok_or("unexpected end of JSON path")?;
            name = unescape_single_quoted(&after[..close])?;
            rest = after[close + 1..]
                .strip_prefix(']')
                .ok_or_else(|| format!("expected ] but got {}", &after[close + 1..]))?;
        } else {
            return Err(format!("expected [ or . but got: {rest}"));
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            schema = props.get(&name).ok_or("does not refer to a valid field")?;
            path = path.child(&name);
        } else if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            schema = values;
            path = path.key(&name);
        } else {
            return Err("does not refer to a valid field".to_owned());
        }
    }
    Ok(path.to_string())
}

fn unescape_single_quoted(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('a') => '\u{7}',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('v') => '\u{b}',
            Some('\'') => '\'',
            Some('\\') => '\\',
            other => {
                return Err(format!(
                    "invalid string literal: invalid escape char \\{}",
                    other.unwrap_or(' ')
                ));
            }
        });
    }
    Ok(out)
}
