//! Field-level failures, worded the way kube-apiserver words them (apimachinery's `field.Error`,
//! turned into `metav1.StatusCause`s by `errors.NewInvalid`).

use std::fmt;

use serde_json::{Value, json};

/// Why a field was refused: a Kubernetes `metav1.CauseType` (apimachinery `field.ErrorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CauseReason {
    /// `FieldValueNotFound`: a referenced value does not exist.
    FieldValueNotFound,
    /// `FieldValueRequired`: a required value is missing.
    FieldValueRequired,
    /// `FieldValueDuplicate`: a value that must be unique is repeated.
    FieldValueDuplicate,
    /// `FieldValueInvalid`: a malformed or out-of-range value.
    FieldValueInvalid,
    /// `FieldValueNotSupported`: a value outside an enumeration.
    FieldValueNotSupported,
    /// `FieldValueForbidden`: a value not permitted here.
    FieldValueForbidden,
    /// `FieldValueTooLong`: a string longer than its `maxLength`.
    FieldValueTooLong,
    /// `FieldValueTooMany`: more items or properties than allowed.
    FieldValueTooMany,
    /// `FieldValueTypeInvalid`: a value of the wrong JSON type (or string format).
    FieldValueTypeInvalid,
    /// `InternalError`: not the object's fault.
    InternalError,
}

impl CauseReason {
    /// The `reason` string of a `StatusCause`, e.g. `FieldValueRequired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldValueNotFound => "FieldValueNotFound",
            Self::FieldValueRequired => "FieldValueRequired",
            Self::FieldValueDuplicate => "FieldValueDuplicate",
            Self::FieldValueInvalid => "FieldValueInvalid",
            Self::FieldValueNotSupported => "FieldValueNotSupported",
            Self::FieldValueForbidden => "FieldValueForbidden",
            Self::FieldValueTooLong => "FieldValueTooLong",
            Self::FieldValueTooMany => "FieldValueTooMany",
            Self::FieldValueTypeInvalid => "FieldValueTypeInvalid",
            Self::InternalError => "InternalError",
        }
    }

    /// The words a message starts with (`field.ErrorType.String()`), e.g. `Required value`.
    pub fn words(self) -> &'static str {
        match self {
            Self::FieldValueNotFound => "Not found",
            Self::FieldValueRequired => "Required value",
            Self::FieldValueDuplicate => "Duplicate value",
            Self::FieldValueInvalid | Self::FieldValueTypeInvalid => "Invalid value",
            Self::FieldValueNotSupported => "Unsupported value",
            Self::FieldValueForbidden => "Forbidden",
            Self::FieldValueTooLong => "Too long",
            Self::FieldValueTooMany => "Too many",
            Self::InternalError => "Internal error",
        }
    }

    /// Whether kube-apiserver skips CEL rules after such a failure (`hasBlockingErr` in the
    /// custom resource strategy): the object is too malformed for the rules to mean anything.
    pub(crate) fn blocks_cel(self) -> bool {
        matches!(
            self,
            Self::FieldValueNotSupported
                | Self::FieldValueRequired
                | Self::FieldValueTooLong
                | Self::FieldValueTooMany
                | Self::FieldValueTypeInvalid
        )
    }
}

impl fmt::Display for CauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refused field, like an entry of a Kubernetes `Status`'s `details.causes[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldCause {
    /// The field as kube-apiserver prints it: dotted, indexes and map keys in brackets
    /// (`spec.tools[2]`, `spec.labels[app]`); `<nil>` when the failure is about no field in particular.
    pub field: String,
    /// The machine-readable reason.
    pub reason: CauseReason,
    /// The failure without the field, as in `StatusCause.message` (`field.Error.ErrorBody()`),
    /// e.g. `Required value` or `Invalid value: -1: spec.replicas in body should be greater than or equal to 0`.
    pub message: String,
}

impl FieldCause {
    fn new(path: &FieldPath, reason: CauseReason, value: Option<&Value>, detail: &str) -> Self {
        let mut message = reason.words().to_owned();
        if let Some(value) = value {
            message.push_str(": ");
            message.push_str(&bad_value(value));
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        Self { field: path.to_string(), reason, message }
    }

    /// `field.Required`.
    pub(crate) fn required(path: &FieldPath, detail: &str) -> Self {
        Self::new(path, CauseReason::FieldValueRequired, None, detail)
    }

    /// `field.Forbidden`.
    pub(crate) fn forbidden(path: &FieldPath, detail: &str) -> Self {
        Self::new(path, CauseReason::FieldValueForbidden, None, detail)
    }

    /// `field.Invalid`.
    pub(crate) fn invalid(path: &FieldPath, value: &Value, detail: &str) -> Self {
        Self::new(path, CauseReason::FieldValueInvalid, Some(value), detail)
    }

    /// `field.Invalid` whose value kube-apiserver (1.36) leaves out: CEL rule failures and the
    /// "rules not checked" line print `Invalid value: <detail>`.
    pub(crate) fn invalid_without_value(path: &FieldPath, detail: &str) -> Self {
        Self {
            field: path.to_string(),
            reason: CauseReason::FieldValueInvalid,
            message: format!("{}: {detail}", CauseReason::FieldValueInvalid.words()),
        }
    }

    /// `field.TypeInvalid`.
    pub(crate) fn type_invalid(path: &FieldPath, value: &Value, detail: &str) -> Self {
        Self::new(path, CauseReason::FieldValueTypeInvalid, Some(value), detail)
    }

    /// `field.Duplicate`.
    pub(crate) fn duplicate(path: &FieldPath, value: &Value) -> Self {
        Self::new(path, CauseReason::FieldValueDuplicate, Some(value), "")
    }

    /// `field.NotSupported`: the supported values are quoted in the message.
    pub(crate) fn not_supported(path: &FieldPath, value: &Value, supported: &[String]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(path, CauseReason::FieldValueNotSupported, Some(value), &detail)
    }

    /// `field.TooLong` (Kubernetes ≥ 1.32 wording; earlier servers said `may not be longer than N`).
    pub(crate) fn too_long(path: &FieldPath, max: u64) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        let detail = format!("may not be more than {max} {unit}");
        Self::new(path, CauseReason::FieldValueTooLong, None, &detail)
    }

    /// `field.TooMany`.
    pub(crate) fn too_many(path: &FieldPath, actual: usize, max: u64) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        let detail = format!("must have at most {max} {unit}");
        Self::new(path, CauseReason::FieldValueTooMany, Some(&json!(actual)), &detail)
    }
}

impl fmt::Display for FieldCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// An object refused by its schema: every failure found, like a Kubernetes `Status` of reason
/// `Invalid`. Displays as kube-apiserver's aggregate (`a: …` alone, `[a: …, b: …]` for several).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", aggregate(.causes))]
pub struct Invalid {
    /// The failures, in the order the apiserver finds them.
    pub causes: Vec<FieldCause>,
}

impl Invalid {
    /// The causes as `StatusCause` JSON (`{"reason", "message", "field"}`), for `details.causes`.
    pub fn to_status_causes(&self) -> Vec<Value> {
        self.causes
            .iter()
            .map(|c| json!({"reason": c.reason.as_str(), "message": c.message, "field": c.field}))
            .collect()
    }
}

/// `utilerrors.Aggregate.Error()`: duplicates dropped, brackets only around several.
fn aggregate(causes: &[FieldCause]) -> String {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<String> =
        causes.iter().map(ToString::to_string).filter(|c| seen.insert(c.clone())).collect();
    match unique.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// A field path as apimachinery's `field.Path` prints it: `.` between names, `[i]` for list
/// indexes and `[key]` for map keys; the empty path prints `<nil>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Option<String>);

impl FieldPath {
    /// The object itself.
    pub(crate) fn root() -> Self {
        Self(None)
    }

    /// A named field below this one.
    pub(crate) fn child(&self, name: &str) -> Self {
        match &self.0 {
            None => Self(Some(name.to_owned())),
            Some(p) => Self(Some(format!("{p}.{name}"))),
        }
    }

    /// A list item below this one.
    pub(crate) fn index(&self, index: usize) -> Self {
        self.key(&index.to_string())
    }

    /// A map entry below this one.
    pub(crate) fn key(&self, key: &str) -> Self {
        Self(Some(format!("{}[{key}]", self.0.as_deref().unwrap_or(""))))
    }

    /// The path without the `<nil>` placeholder, as kube-openapi names fields in its messages.
    pub(crate) fn name(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("<nil>"))
    }
}

/// A bad value as `ErrorBody` prints it: strings quoted, numbers and booleans bare, `null`
/// quoted (Go prints a nil value as the string "null"), lists and objects as JSON.
fn bad_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Null => go_quote("null"),
        Value::Number(_) | Value::Bool(_) => go_value(value),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

/// A value as Go's `%v` prints it (used for limits in kube-openapi messages).
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => go_float(f),
            (None, None, None) => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A float as Go's `%v` prints it: shortest form, exponent (`1e+21`, `1e-05`) outside [1e-4, 1e21).
pub(crate) fn go_float(f: f64) -> String {
    let magnitude = f.abs();
    if f == 0.0 || (1e-4..1e21).contains(&magnitude) {
        return format!("{f}");
    }
    let scientific = format!("{f:e}");
    match scientific.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exponent),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => scientific,
    }
}

/// A string as Go's `%q` quotes it.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
