//! `agentry-api`: the Agentry HTTP API under `/api/v1`, served by every operator replica.
//!
//! Every endpoint is namespaced and maps to a verb on a resource of `agentry.dev`, checked with
//! a SubjectAccessReview for the caller a TokenReview names, so plain RBAC Roles grant access
//! (docs/api.md has the table). Answers and errors are the types of `agentry-api-contract`; the
//! OpenAPI document at `/api/v1/openapi.json` is generated from them and the handlers.

mod agent_call;
mod agent_directory;
mod answer_cache;
mod api_error;
mod api_state;
mod authentication;
mod authorization;
mod bounded_json;
mod history_error;
mod memory_access;
mod query_bounds;
mod routes;

pub use api_error::ApiError;
pub use api_state::{ApiSettings, ApiSetupError, ApiState};
pub use authentication::Caller;
pub use authorization::Access;
pub use routes::{openapi, router};
