//! Who owns which fields and how writes merge into objects: field sets (`FieldsV1`),
//! `managedFields`, server-side apply with its conflicts, strategic merge patch and the other
//! PATCH types, and the list types that decide how lists merge.

pub(crate) mod field_set;
mod list_order;
pub(crate) mod list_types;
pub(crate) mod managed_fields;
pub(crate) mod patch;
#[cfg(test)]
mod patch_properties;
pub(crate) mod server_side_apply;
pub(crate) mod strategic_merge;

pub(crate) use field_set::Scope;
