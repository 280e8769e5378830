//! What a request names and asks for, read before any handler runs: the URL path parsed into the
//! API's parts, and the query parameters.

pub mod path;
pub mod query;

pub use query::Query;
