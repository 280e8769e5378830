//! The order of a list merged by a strategic merge patch, as apimachinery's `strategicpatch`
//! orders it: the items the patch names (or its `$setElementOrder/<list>` lists) in the patch's
//! order, the live list's other items in their live order, the two interleaved by the live order
//! (an item the live list does not have goes before the next server-only item).

use serde_json::Value;

/// Order `merged` (items keyed by `key`, or primitives if it is empty): `order` is the `$setElementOrder` list, else the patch's
/// items; `live` the list before the patch.
pub(crate) fn normalize(merged: Vec<Value>, order: &[Value], live: &[Value], key: &str) -> Vec<Value> {
    let (mut named, mut server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|item| index(order, item, key).is_some());
    sort_by_position(&mut named, order, key);
    sort_by_position(&mut server_only, live, key);
    interleave(server_only, named, live, key)
}

/// The position in `list` of the item with `item`'s key (of `item` itself in a primitive list,
/// whose `key` is empty).
fn index(list: &[Value], item: &Value, key: &str) -> Option<usize> {
    if key.is_empty() {
        return list.iter().position(|candidate| candidate == item);
    }
    let id = item.get(key)?;
    list.iter().position(|candidate| candidate.get(key) == Some(id))
}

/// Stable sort by position in `order`; items it lacks come first, as Go's index of -1 sorts.
fn sort_by_position(items: &mut [Value], order: &[Value], key: &str) {
    items.sort_by_key(|item| index(order, item, key).map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX)));
}

/// `mergeSortedSlice`: take the server-only item first only when both are in the live list and
/// it comes first there.
fn interleave(server_only: Vec<Value>, named: Vec<Value>, live: &[Value], key: &str) -> Vec<Value> {
    let mut out = Vec::with_capacity(server_only.len() + named.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((index(live, l, key), index(live, r, key)), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(items: &[Value]) -> Vec<&str> {
        items.iter().filter_map(|i| i["name"].as_str()).collect()
    }

    #[test]
    fn new_items_go_before_the_next_server_only_item() {
        // live [a, b, c]; patch [b, new]: merged by apimachinery as [a, b, new, c].
        let live = vec![json!({"name": "a"}), json!({"name": "b"}), json!({"name": "c"})];
        let merged =
            vec![json!({"name": "a"}), json!({"name": "b"}), json!({"name": "c"}), json!({"name": "new"})];
        let patch = vec![json!({"name": "b"}), json!({"name": "new"})];
        assert_eq!(names(&normalize(merged, &patch, &live, "name")), ["a", "b", "new", "c"]);
    }

    #[test]
    fn primitive_lists_are_ordered_the_same_way() {
        // finalizers [a, b] patched with [c]: apimachinery's merge gives [c, a, b].
        let live = vec![json!("a"), json!("b")];
        let merged = vec![json!("a"), json!("b"), json!("c")];
        assert_eq!(normalize(merged, &[json!("c")], &live, ""), [json!("c"), json!("a"), json!("b")]);
    }

    #[test]
    fn set_element_order_reorders_the_named_items() {
        // $setElementOrder [c, a] over live [a, b, c]: c before a; b, server-only, goes first as
        // it precedes c in the live list.
        let live = vec![json!({"name": "a"}), json!({"name": "b"}), json!({"name": "c"})];
        let order = vec![json!({"name": "c"}), json!({"name": "a"})];
        assert_eq!(names(&normalize(live.clone(), &order, &live, "name")), ["b", "c", "a"]);
    }
}
