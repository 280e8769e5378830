//! `labelSelector` (equality- and set-based) and `fieldSelector` parsing and matching, as list
//! and watch requests use them.

use serde_json::Value;

use crate::api_error::ApiError;
use crate::resources::ResourceDesc;

#[derive(Clone, Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Self::Equals(k, v) => get(k).as_deref() == Some(v.as_str()),
            // As in the apiserver, `!=` also selects objects without the key.
            Self::NotEquals(k, v) => get(k).as_deref() != Some(v.as_str()),
            Self::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Self::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Self::Exists(k) => get(k).is_some(),
            Self::NotExists(k) => get(k).is_none(),
        }
    }
}

/// Which objects a list or watch selects.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selector {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl Selector {
    /// Parse the `labelSelector` and `fieldSelector` parameters; fields must be ones `desc` supports.
    pub(crate) fn parse(
        desc: &ResourceDesc,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Self, ApiError> {
        let labels = match labels {
            Some(s) => parse_terms(s, true)
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
            None => Vec::new(),
        };
        let fields = match fields {
            Some(s) => parse_terms(s, false)
                .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?,
            None => Vec::new(),
        };
        for requirement in &fields {
            let field = match requirement {
                Requirement::Equals(k, _) | Requirement::NotEquals(k, _) => k,
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid field selector: only =, == and != are supported",
                    ));
                }
            };
            let supported = matches!(field.as_str(), "metadata.name" | "metadata.namespace")
                || desc.field_selectors.iter().any(|f| f == field);
            if !supported {
                return Err(ApiError::bad_request(format!("field label not supported: {field}")));
            }
        }
        Ok(Self { labels, fields })
    }

    /// Whether `object` is selected.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |k: &str| labels.get(k).and_then(Value::as_str).map(str::to_owned);
        let field = |k: &str| {
            let mut node = object;
            for part in k.split('.') {
                node = node.get(part)?;
            }
            match node {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
        };
        self.labels.iter().all(|r| r.matches(&label)) && self.fields.iter().all(|r| r.matches(&field))
    }
}

/// Split on commas outside parentheses, then parse each term.
fn parse_terms(text: &str, set_based: bool) -> Result<Vec<Requirement>, String> {
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms.into_iter().map(str::trim).filter(|t| !t.is_empty()).map(|t| parse_term(t, set_based)).collect()
}

fn parse_term(term: &str, set_based: bool) -> Result<Requirement, String> {
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(Requirement::NotEquals(key.trim().into(), value.trim().into()));
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Requirement::Equals(key.trim().into(), value.trim().into()));
    }
    if !set_based {
        return Err(format!("invalid selector: '{term}'; can't understand '{term}'"));
    }
    for (op, not) in [(" notin ", true), (" in ", false)] {
        if let Some((key, values)) = term.split_once(op) {
            let values = values.trim();
            let inner = values
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| format!("found '{values}', expected: '('"))?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
            let key = key.trim().to_owned();
            return Ok(if not { Requirement::NotIn(key, values) } else { Requirement::In(key, values) });
        }
    }
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::NotExists(key.trim().into()));
    }
    if term.contains(char::is_whitespace) || term.contains(['(', ')', '<', '>']) {
        return Err(format!("found '{term}', expected: key"));
    }
    Ok(Requirement::Exists(term.into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn configmaps() -> ResourceDesc {
        crate::resources::builtin_kinds::all()
            .into_iter()
            .find(|d| d.plural == "configmaps")
            .expect("configmaps")
    }

    #[test]
    fn set_based_requirements_parse_and_match() {
        let object = json!({"metadata": {"name": "a", "labels": {"app": "web", "tier": "front"}}});
        let matches = |labels: &str| {
            Selector::parse(&configmaps(), Some(labels), None).expect("parses").matches(&object)
        };
        assert!(matches("app=web"));
        assert!(matches("app==web,tier"));
        assert!(matches("app in (api, web),tier notin (back)"));
        assert!(matches("!missing"));
        assert!(!matches("app!=web"));
        assert!(!matches("env"));
        assert!(Selector::parse(&configmaps(), Some("app in web"), None).is_err());
    }

    #[test]
    fn unsupported_field_labels_are_refused() {
        let err = Selector::parse(&configmaps(), None, Some("spec.x=1")).expect_err("refused");
        assert_eq!(err.message, "field label not supported: spec.x");
        let selector = Selector::parse(&configmaps(), None, Some("metadata.name!=b")).expect("parses");
        assert!(selector.matches(&json!({"metadata": {"name": "a"}})));
    }
}
