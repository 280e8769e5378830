//! What the server tells clients about itself and its resources, and the Table form kubectl
//! prints objects in: discovery documents, OpenAPI documents (for `kubectl explain` and
//! `apply`), the version, and server-side printing.

pub mod api_groups;
mod json_path;
pub mod openapi_documents;
pub mod server_version;
pub mod tables;
