//! NATS message headers every Agentry request carries.

/// The request's id, shared by its reply and every event it causes.
pub const REQUEST_ID: &str = "request-id";
/// W3C trace context of the caller.
pub const TRACEPARENT: &str = "traceparent";
/// How many agents deep the delegation chain is at this request (0 for a request from outside).
pub const DELEGATION_DEPTH: &str = "delegation-depth";
/// Marks a message on a reply subject as a [`StreamEvent`](crate::StreamEvent) of a streamed
/// request (its value is the event's `seq`); the reply itself never carries it.
pub const STREAM_EVENT: &str = "stream-event";
