//! `list`: the objects of a collection, selected and paged, as JSON or as a Table.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::resource_request::ResourceRequest;
use super::response::json_response;
use crate::api_error::{ApiError, ApiResult};
use crate::discovery::tables::table;
use crate::request::Query;
use crate::request::query::selector;
use crate::resources::ResourceDesc;
use crate::storage::cluster_state::ClusterState;
use crate::storage::store::object_key;

/// Serve `GET` on a collection.
pub(crate) fn list(request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let state = request.server.lock();
    let list = page(&state, request.desc, request.namespace, request.query)?;
    if request.wants_table() {
        let items = list["items"].as_array().cloned().unwrap_or_default();
        return Ok(json_response(
            StatusCode::OK,
            table(request.desc, &items, Some(&list["metadata"]), request.query),
        ));
    }
    Ok(json_response(StatusCode::OK, list))
}

/// A list response, with `limit`/`continue` paging (continue tokens name the last key returned).
fn page(state: &ClusterState, desc: &ResourceDesc, ns: Option<&str>, query: &Query) -> ApiResult<Value> {
    let selector = selector(desc, query)?;
    let limit: usize =
        query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let after = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(decode_continue(token)?),
        None => None,
    };
    let rv = state.store.current_rv().to_string();
    let mut matching = state
        .list(desc, ns)
        .into_iter()
        .filter(|o| after.as_ref().is_none_or(|a| object_key(o) > *a))
        .filter(|o| selector.matches(o));
    let items: Vec<Value> = matching.by_ref().take(limit).collect();
    let remaining = matching.count();
    let mut metadata = json!({"resourceVersion": rv});
    if remaining > 0
        && let Some(last) = items.last()
    {
        let (last_ns, last_name) = object_key(last);
        metadata["continue"] = json!(format!("{last_ns}/{last_name}"));
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(json!({
        "kind": format!("{}List", desc.kind),
        "apiVersion": desc.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    token
        .split_once('/')
        .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
        .ok_or_else(|| ApiError::bad_request("continue key is not valid: malformed token"))
}
