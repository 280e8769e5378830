//! What a request names and asks for, read before any handler runs: the URL path parsed into the
//! API's parts, the query parameters, and protobuf bodies turned into the JSON handlers read.

pub(crate) mod path;
pub(crate) mod protobuf;
mod protobuf_messages;
pub(crate) mod query;

pub(crate) use query::Query;
