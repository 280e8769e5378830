//! Query parameters, and the readings of them several verbs share.

use std::collections::HashMap;

use crate::api_error::ApiResult;
use crate::resources::ResourceDesc;
use crate::selectors::Selector;

/// Query parameters.
pub(crate) type Query = HashMap<String, String>;

/// Whether a boolean parameter is set (`1` or `true`, any case).
pub(crate) fn is_true(value: Option<&String>) -> bool {
    value.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `dryRun=All`.
pub(crate) fn is_dry_run(query: &Query) -> bool {
    query.get("dryRun").is_some_and(|d| d == "All")
}

/// The `labelSelector` and `fieldSelector` of a list, watch or deletecollection.
pub(crate) fn selector(desc: &ResourceDesc, query: &Query) -> ApiResult<Selector> {
    Selector::parse(
        desc,
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )
}
