//! What the server tells clients about itself and its resources, and the Table form kubectl
//! prints objects in: discovery documents, OpenAPI documents (for `kubectl explain` and
//! `apply`), the version, and server-side printing.

pub(crate) mod api_groups;
mod json_path;
pub(crate) mod openapi_documents;
pub(crate) mod server_version;
pub(crate) mod tables;
