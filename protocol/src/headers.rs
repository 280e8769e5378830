//! NATS message headers every Agentry request carries.

/// The request's id, shared by its reply and every event it causes.
pub const REQUEST_ID: &str = "request-id";
/// W3C trace context of the caller.
pub const TRACEPARENT: &str = "traceparent";
/// How many agents deep the delegation chain is at this request (0 for a request from outside).
pub const DELEGATION_DEPTH: &str = "delegation-depth";
