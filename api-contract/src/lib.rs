//! The Agentry HTTP API's contract: every request and response body (JSON, camelCase), the error
//! body, the paths and their bounds. The server (`agentry-api`) derives its OpenAPI document from
//! these types; the CLI decodes the same types.

pub mod agents;
pub mod api_error;
pub mod history;
pub mod invoke;
pub mod memories;
pub mod paths;
pub mod sessions;
pub mod tasks;

pub use api_error::{ApiErrorBody, ApiErrorCode};

/// Most items one page of a list returns; `limit` above it is refused.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Items a page returns when `limit` is not given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest input of one invocation, message or task, in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// The header a client behind the kube-apiserver's service proxy sends its bearer token in: the
/// apiserver removes `Authorization` once it has authenticated the caller, so that one never
/// reaches the API.
pub const PROXIED_AUTHORIZATION_HEADER: &str = "x-agentry-authorization";
/// Longest statistics window, in days.
pub const MAX_WINDOW_DAYS: u64 = 93;
