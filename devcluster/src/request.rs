//! What a request names and asks for, read before any handler runs: the URL path parsed into the
//! API's parts, and the query parameters.

pub(crate) mod path;
pub(crate) mod query;

pub(crate) use query::Query;
