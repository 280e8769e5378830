//! The schema as apiextensions-apiserver's *structural schema* sees it: the tree that pruning,
//! defaulting, list-type checks, CEL rules and update ratcheting walk.

use std::collections::BTreeMap;

use serde_json::Value;

use super::cel_rules::NodeRules;
use super::schema_error::SchemaError;

/// Deeper schemas are refused rather than recursed into without bound.
const MAX_DEPTH: usize = 64;

/// `x-kubernetes-list-type`.
#[derive(Debug)]
pub(crate) enum ListType {
    /// `atomic` (the default): the list is one value.
    Atomic,
    /// `set`: items are unique.
    Set,
    /// `map`: items are objects unique by `x-kubernetes-list-map-keys`.
    Map(Vec<String>),
}

/// `additionalProperties`.
#[derive(Debug)]
pub(crate) enum Additional {
    /// Absent or `false`: only `properties` are known.
    Absent,
    /// `true`: any key, with no schema for the values (so pruning empties object values).
    Any,
    /// A schema for every value of the map.
    Schema(Box<Structural>),
}

/// One schema node.
#[derive(Debug)]
pub(crate) struct Structural {
    pub(crate) nullable: bool,
    /// `default`; a `null` default counts as none, as in the apiserver.
    pub(crate) default: Option<Value>,
    pub(crate) properties: BTreeMap<String, Structural>,
    pub(crate) additional: Additional,
    pub(crate) items: Option<Box<Structural>>,
    pub(crate) preserve_unknown_fields: bool,
    pub(crate) embedded_resource: bool,
    pub(crate) list_type: ListType,
    /// `type: integer, format: int32`: kube-openapi range-checks these.
    pub(crate) int32: bool,
    /// This node's `x-kubernetes-validations` (with those of its `allOf` branches).
    pub(crate) rules: Option<NodeRules>,
}

impl Structural {
    /// Build the tree from an `openAPIV3Schema`, compiling CEL rules on the way.
    pub(crate) fn compile(schema: &Value) -> Result<Self, SchemaError> {
        Self::compile_at(schema, "<root>", 0)
    }

    fn compile_at(schema: &Value, location: &str, depth: usize) -> Result<Self, SchemaError> {
        if depth > MAX_DEPTH {
            return Err(SchemaError::TooDeep { location: location.to_owned() });
        }
        let child = |name: &str| {
            if depth == 0 { name.to_owned() } else { format!("{location}.{name}") }
        };
        let mut properties = BTreeMap::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                properties.insert(name.clone(), Self::compile_at(prop, &child(name), depth + 1)?);
            }
        }
        let additional = match schema.get("additionalProperties") {
            Some(Value::Bool(true)) => Additional::Any,
            Some(s @ Value::Object(_)) => {
                let values = Self::compile_at(s, &format!("{location}[*]"), depth + 1)?;
                Additional::Schema(Box::new(values))
            }
            _ => Additional::Absent,
        };
        let items = match schema.get("items") {
            Some(s @ Value::Object(_)) => {
                Some(Box::new(Self::compile_at(s, &format!("{location}[*]"), depth + 1)?))
            }
            _ => None,
        };
        let list_type = match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| keys.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        };
        let flag = |name: &str| schema.get(name).and_then(Value::as_bool).unwrap_or(false);
        let type_name = schema.get("type").and_then(Value::as_str).unwrap_or("");
        let int32 = type_name == "integer" && schema.get("format").and_then(Value::as_str) == Some("int32");
        Ok(Self {
            rules: NodeRules::compile(schema, location, type_name)?,
            nullable: flag("nullable"),
            default: schema.get("default").filter(|d| !d.is_null()).cloned(),
            properties,
            additional,
            items,
            preserve_unknown_fields: flag("x-kubernetes-preserve-unknown-fields"),
            embedded_resource: flag("x-kubernetes-embedded-resource"),
            list_type,
            int32,
        })
    }

    /// The schema of an object's field: a declared property, else the map's value schema.
    pub(crate) fn field(&self, name: &str) -> Option<&Structural> {
        self.properties.get(name).or(match &self.additional {
            Additional::Schema(s) => Some(s),
            _ => None,
        })
    }

    /// Whether any node has CEL rules (the apiserver only builds a CEL validator then).
    pub(crate) fn has_rules(&self) -> bool {
        self.rules.is_some()
            || self.properties.values().any(Self::has_rules)
            || matches!(&self.additional, Additional::Schema(s) if s.has_rules())
            || self.items.as_ref().is_some_and(|s| s.has_rules())
    }

    /// The old list item an updated item corresponds to: only `map` lists correlate, by key.
    pub(crate) fn old_item<'a>(&self, old_list: Option<&'a Value>, item: &Value) -> Option<&'a Value> {
        let ListType::Map(keys) = &self.list_type else {
            return None;
        };
        old_list?.as_array()?.iter().find(|old| keys.iter().all(|k| old.get(k) == item.get(k)))
    }

    /// Whether update ratcheting drops a schema error raised at `at` (a path into `new`): kube-apiserver
    /// ignores errors in any part of the object that is unchanged from, and correlates with, the old one.
    pub(crate) fn unchanged(&self, new: &Value, old: &Value, at: &[Segment]) -> bool {
        let (mut schema, mut new, mut old) = (Some(self), new, old);
        for segment in at {
            if new == old {
                return true;
            }
            match segment {
                Segment::Field(name) => {
                    let (Some(n), Some(o)) = (new.get(name), old.get(name)) else {
                        return false;
                    };
                    (new, old) = (n, o);
                    schema = schema.and_then(|s| s.field(name));
                }
                Segment::Index(i) => {
                    let (Some(item), Some(s)) = (new.get(i), schema) else {
                        return false;
                    };
                    match &s.list_type {
                        // A set item still present in the old list is unchanged by definition.
                        ListType::Set => return old.as_array().is_some_and(|o| o.contains(item)),
                        ListType::Atomic => return false,
                        ListType::Map(_) => match s.old_item(Some(old), item) {
                            Some(o) => (new, old) = (item, o),
                            None => return false,
                        },
                    }
                    schema = s.items.as_deref();
                }
            }
        }
        new == old
    }
}

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    /// An object field (or map key).
    Field(String),
    /// A list index.
    Index(usize),
}
