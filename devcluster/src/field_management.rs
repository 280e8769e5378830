//! Who owns which fields and how writes merge into objects: field sets (`FieldsV1`),
//! `managedFields`, server-side apply with its conflicts, strategic merge patch and the other
//! PATCH types, and the list types that decide how lists merge.

pub mod field_set;
pub mod list_types;
pub mod managed_fields;
pub mod patch;
pub mod server_side_apply;
pub mod strategic_merge;

pub use field_set::Scope;
