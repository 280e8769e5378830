//! Interaction lists and look-ups against a real PostgreSQL, written by the recorder's statement.

mod support;

use std::collections::HashSet;

use agentry_history::HistoryError;
use agentry_history::interactions::{self, InteractionFilters, InteractionType, OutcomeFilter};
use sqlx::{AssertSqlSafe, Row};
use support::{History, Shape, at, interaction, ms};

/// 60 interactions in `fleet` one second apart from 10:00: every third delegated from `a` to
/// `b`, every fifth failed, the rest queries to `a`, the first 10 in session `s1`; and one in
/// another namespace.
async fn seeded() -> History {
    let history = History::start().await;
    let start = ms(at("2026-11-01T10:00:00Z"));
    let mut events: Vec<_> = (0..60u64)
        .map(|i| {
            let delegated = i % 3 == 0;
            let shape = Shape {
                from: Some(if delegated { "a" } else { "caller" }),
                depth: u32::from(delegated),
                failed: i % 5 == 0,
                ..Shape::default()
            };
            let session = (i < 10 && !delegated).then_some("s1");
            interaction(
                "fleet",
                if delegated { "b" } else { "a" },
                &format!("r{i:02}"),
                session,
                start + i * 1000,
                &shape,
            )
        })
        .collect();
    events.push(interaction("other", "a", "elsewhere", None, start, &Shape::default()));
    assert_eq!(history.write(events).await, 61);
    history
}

#[tokio::test]
async fn filters_select_and_type_is_computed_at_insert() {
    let history = seeded().await;
    let all = interactions::list(&history.pool, "fleet", &InteractionFilters::default(), 500, None)
        .await
        .expect("list");
    assert_eq!(all.items.len(), 60, "only the namespace's");
    assert!(all.next.is_none());
    assert_eq!(all.items[0].request_id, "r59", "newest first");
    let kinds: HashSet<&str> = all.items.iter().map(|i| i.r#type.as_str()).collect();
    assert_eq!(kinds, HashSet::from(["query", "delegation", "session"]));

    let count = |filters: InteractionFilters| {
        let pool = history.pool.clone();
        async move { interactions::list(&pool, "fleet", &filters, 500, None).await.expect("list").items }
    };
    let delegated =
        count(InteractionFilters { r#type: Some(InteractionType::Delegation), ..Default::default() }).await;
    assert_eq!(delegated.len(), 20);
    assert!(
        delegated
            .iter()
            .all(|i| i.to_agent == "b" && i.parent_request_id.is_none() && i.delegation_depth == 1)
    );
    let to_b_delegated = count(InteractionFilters {
        to: Some("b".into()),
        r#type: Some(InteractionType::Delegation),
        ..Default::default()
    })
    .await;
    assert_eq!(to_b_delegated.len(), 20);
    let session = count(InteractionFilters { session: Some("s1".into()), ..Default::default() }).await;
    assert_eq!(session.len(), 6, "r01 r02 r04 r05 r07 r08");
    assert!(session.iter().all(|i| i.r#type == "session"));
    let errors =
        count(InteractionFilters { outcome: Some(OutcomeFilter::Error), ..Default::default() }).await;
    assert_eq!(errors.len(), 12);
    assert!(errors.iter().all(|i| i.outcome == "timeout"));
    let from_a = count(InteractionFilters { from: Some("a".into()), ..Default::default() }).await;
    assert_eq!(from_a.len(), 20);
    let window = count(InteractionFilters {
        since: Some(at("2026-11-01T10:00:10Z")),
        until: Some(at("2026-11-01T10:00:20Z")),
        outcome: Some(OutcomeFilter::Ok),
        ..Default::default()
    })
    .await;
    assert_eq!(window.len(), 8, "10..19 without 10 and 15");
    assert_eq!(window.first().map(|i| i.created_at.as_str()), Some("2026-11-01T10:00:19Z"));
}

#[tokio::test]
async fn pages_walk_every_item_once_in_order() {
    let history = seeded().await;
    for filters in [
        InteractionFilters::default(),
        InteractionFilters { to: Some("a".into()), ..Default::default() },
        InteractionFilters { r#type: Some(InteractionType::Query), ..Default::default() },
    ] {
        let expected =
            interactions::list(&history.pool, "fleet", &filters, 500, None).await.expect("list").items;
        let (mut walked, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let page = interactions::list(&history.pool, "fleet", &filters, 7, cursor.as_deref())
                .await
                .expect("page");
            assert!(page.items.len() <= 7);
            walked.extend(page.items);
            pages += 1;
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(walked, expected, "{filters:?}: no duplicate, no gap, same order");
        assert_eq!(pages, expected.len().div_ceil(7).max(1));
    }
}

#[tokio::test]
async fn bad_input_and_unknown_ids_are_named() {
    let history = seeded().await;
    let error =
        interactions::list(&history.pool, "fleet", &InteractionFilters::default(), 5, Some("not-a-cursor"))
            .await
            .expect_err("a bad cursor");
    assert!(matches!(error, HistoryError::InvalidInput { field: "cursor", .. }), "{error}");
    assert!(matches!(
        "sideways".parse::<InteractionType>(),
        Err(HistoryError::InvalidInput { field: "type", .. })
    ));
    assert!(matches!(
        "meh".parse::<OutcomeFilter>(),
        Err(HistoryError::InvalidInput { field: "outcome", .. })
    ));
    let full = interactions::get(&history.pool, "fleet", "r07").await.expect("found");
    assert_eq!((full.query.as_str(), full.r#type.as_str()), ("question of r07", "session"));
    let missing = interactions::get(&history.pool, "fleet", "elsewhere").await.expect_err("other namespace");
    assert!(matches!(missing, HistoryError::NotFound { what: "interaction", .. }), "{missing}");
}

#[tokio::test]
async fn lists_cut_long_texts_and_get_does_not() {
    let history = History::start().await;
    let mut long = interaction("fleet", "a", "long", None, ms(at("2026-11-01T10:00:00Z")), &Shape::default());
    if let agentry_protocol::events::EventBody::Interaction(body) = &mut long.body {
        body.query = "é".repeat(500);
    }
    history.write(vec![long]).await;
    let list = interactions::list(&history.pool, "fleet", &InteractionFilters::default(), 5, None)
        .await
        .expect("list");
    assert_eq!(list.items[0].query.chars().count(), 200);
    let full = interactions::get(&history.pool, "fleet", "long").await.expect("get");
    assert_eq!(full.query.chars().count(), 500);
}

#[tokio::test]
async fn a_filtered_page_reads_an_index() {
    // Enough rows for the planner to prefer an index to reading the table and sorting it.
    let history = History::start().await;
    let start = ms(at("2026-11-01T00:00:00Z"));
    for batch in 0..20u64 {
        let events = (batch * 1_000..(batch + 1) * 1_000)
            .map(|i| {
                let delegated = i % 4 == 1;
                let shape = Shape {
                    from: Some(if delegated { "a3" } else { "caller" }),
                    depth: u32::from(delegated),
                    failed: i % 50 == 0,
                    ..Shape::default()
                };
                let session = (i % 4 == 2).then(|| format!("s{}", i / 40));
                let to = format!("a{}", i % 10);
                interaction("fleet", &to, &format!("r{i}"), session.as_deref(), start + i * 1_000, &shape)
            })
            .collect();
        history.write(events).await;
    }
    let mut conn = history.pool.acquire().await.expect("connection");
    sqlx::query("ANALYZE interactions").execute(&mut *conn).await.expect("analyze");
    for (filter, indexes) in [
        // Either leads; the other filter is checked on the rows it reads.
        ("to_agent = 'a5' AND type = 'delegation'", &["interactions_ns_to", "interactions_ns_type"][..]),
        ("type = 'delegation'", &["interactions_ns_type"]),
        ("session_id = 's7'", &["interactions_ns_session"]),
        ("from_agent = 'a3'", &["interactions_ns_from"]),
        ("outcome <> 'ok'", &["interactions_ns_errors"]),
        ("true", &["interactions_ns_created"]),
    ] {
        let sql = format!(
            "EXPLAIN SELECT request_id FROM interactions WHERE namespace = 'fleet' AND {filter} \
             AND (created_at, request_id) < (now(), 'z') ORDER BY created_at DESC, request_id DESC LIMIT 51"
        );
        let plan: Vec<String> = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .expect("explain")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        let plan = plan.join("\n");
        let indexed = indexes.iter().any(|index| plan.contains(&format!("Scan Backward using {index} ")));
        assert!(indexed && !plan.contains("Sort"), "{filter}: {plan}");
    }
}
