//! Sessions against a real PostgreSQL: ad-hoc ones through these functions, declared ones through
//! the recorder's statement (their `session` events and activity), messages and conversations.

mod support;

use std::collections::HashSet;

use agentry_history::HistoryError;
use agentry_history::sessions::{self, SessionFilters};
use agentry_protocol::events::MessageRole;
use support::{History, Shape, at, interaction, message, ms, session_event};

#[tokio::test]
async fn adhoc_sessions_start_list_and_end_once() {
    let history = History::start().await;
    let created = sessions::create_adhoc(&history.pool, "fleet", "helper", Some("Trip planning"))
        .await
        .expect("created");
    assert_eq!((created.r#type.as_deref(), created.phase.as_deref()), (Some("chat"), Some("Active")));
    assert_eq!(created.title.as_deref(), Some("Trip planning"));
    assert!(created.ended_at.is_none());
    let got = sessions::get(&history.pool, "fleet", &created.session_id).await.expect("get");
    assert_eq!(got, created);
    // Activity recorded for it afterwards leaves what the API set alone.
    let id = created.session_id.clone();
    let later = ms(jiff::Timestamp::now()) + 1_000;
    history
        .write(vec![
            message("fleet", "helper", "q1", &id, later, MessageRole::User, "hello"),
            interaction("fleet", "helper", "q1", Some(&id), later + 5, &Shape::default()),
        ])
        .await;
    let active = sessions::get(&history.pool, "fleet", &id).await.expect("get");
    assert_eq!(
        (active.message_count, active.phase.as_deref(), active.title.as_deref()),
        (1, Some("Active"), Some("Trip planning"))
    );
    assert_eq!((active.agent.as_str(), active.r#type.as_deref()), ("helper", Some("chat")));

    let ended = sessions::end(&history.pool, "fleet", &id).await.expect("ended");
    assert_eq!(ended.phase.as_deref(), Some("Ended"));
    assert!(ended.ended_at.is_some());
    let again = sessions::end(&history.pool, "fleet", &id).await.expect_err("ended twice");
    assert!(matches!(again, HistoryError::SessionEnded(_)), "{again}");
    let unknown = sessions::end(&history.pool, "fleet", "nope").await.expect_err("unknown");
    assert!(matches!(unknown, HistoryError::NotFound { what: "session", .. }), "{unknown}");
    let elsewhere = sessions::get(&history.pool, "other", &id).await.expect_err("other namespace");
    assert!(matches!(elsewhere, HistoryError::NotFound { .. }));
}

#[tokio::test]
async fn declared_sessions_take_type_and_phase_from_their_events_latest_first() {
    let history = History::start().await;
    let t = ms(at("2026-11-01T10:00:00Z"));
    // The end arrives before the start: the later phase still wins.
    history.write(vec![session_event("fleet", "lead", "uid-1", t + 60_000, "analysis", "Succeeded")]).await;
    history
        .write(vec![
            session_event("fleet", "lead", "uid-1", t, "analysis", "Running"),
            interaction("fleet", "lead", "uid-1", Some("uid-1"), t + 30_000, &Shape::default()),
        ])
        .await;
    // Redelivered: nothing changes.
    history.write(vec![session_event("fleet", "lead", "uid-1", t, "analysis", "Running")]).await;
    let s = sessions::get(&history.pool, "fleet", "uid-1").await.expect("get");
    assert_eq!((s.r#type.as_deref(), s.phase.as_deref()), (Some("analysis"), Some("Succeeded")));
    assert_eq!(s.ended_at.as_deref(), Some("2026-11-01T10:01:00Z"));
    assert_eq!(
        (s.started_at.as_str(), s.last_activity_at.as_str()),
        ("2026-11-01T10:00:00Z", "2026-11-01T10:01:00Z")
    );
    let declared = sessions::end(&history.pool, "fleet", "uid-1").await.expect_err("declared");
    assert!(matches!(declared, HistoryError::SessionEnded(_)), "it has ended: {declared}");
    history.write(vec![session_event("fleet", "lead", "uid-2", t, "task", "Running")]).await;
    let running = sessions::end(&history.pool, "fleet", "uid-2").await.expect_err("declared");
    assert!(matches!(running, HistoryError::DeclaredSession(_)), "{running}");
}

#[tokio::test]
async fn session_lists_filter_and_page_by_activity() {
    let history = History::start().await;
    let t = ms(at("2026-11-01T10:00:00Z"));
    let mut events = Vec::new();
    for i in 0..23u64 {
        let (agent, kind, phase) =
            if i % 2 == 0 { ("lead", "task", "Running") } else { ("other", "analysis", "Failed") };
        events.push(session_event("fleet", agent, &format!("uid-{i:02}"), t + i * 60_000, kind, phase));
    }
    // Same last activity for two sessions: the id breaks the tie.
    events.push(session_event("fleet", "lead", "uid-tie", t + 22 * 60_000, "task", "Running"));
    history.write(events).await;

    let all =
        sessions::list(&history.pool, "fleet", &SessionFilters::default(), 500, None).await.expect("list");
    assert_eq!(all.items.len(), 24);
    assert_eq!(all.items[0].session_id, "uid-tie", "latest activity first, then the larger id");
    let (mut walked, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page = sessions::list(&history.pool, "fleet", &SessionFilters::default(), 5, cursor.as_deref())
            .await
            .expect("page");
        walked.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, all.items, "every session once, in order");

    let filtered = |filters: SessionFilters| {
        let pool = history.pool.clone();
        async move { sessions::list(&pool, "fleet", &filters, 500, None).await.expect("list").items }
    };
    assert_eq!(filtered(SessionFilters { agent: Some("lead".into()), ..Default::default() }).await.len(), 13);
    assert_eq!(
        filtered(SessionFilters { r#type: Some("analysis".into()), ..Default::default() }).await.len(),
        11
    );
    assert_eq!(
        filtered(SessionFilters { phase: Some("Failed".into()), ..Default::default() }).await.len(),
        11
    );
    let window = filtered(SessionFilters {
        since: Some(at("2026-11-01T10:05:00Z")),
        until: Some(at("2026-11-01T10:10:00Z")),
        ..Default::default()
    })
    .await;
    let ids: HashSet<String> = window.into_iter().map(|s| s.session_id).collect();
    assert_eq!(ids, (5..10).map(|i| format!("uid-{i:02}")).collect());
    let bad = sessions::list(&history.pool, "fleet", &SessionFilters::default(), 5, Some("zz"))
        .await
        .expect_err("bad cursor");
    assert!(matches!(bad, HistoryError::InvalidInput { field: "cursor", .. }), "{bad}");
}

#[tokio::test]
async fn messages_page_oldest_first_and_the_conversation_leaves_delegations_out() {
    let history = History::start().await;
    let t = ms(at("2026-11-01T10:00:00Z"));
    let s = "uid-c";
    let delegated = Shape { from: Some("lead"), depth: 1, ..Shape::default() };
    history
        .write(vec![
            session_event("fleet", "lead", s, t, "chat", "Running"),
            message("fleet", "lead", "r1", s, t + 1, MessageRole::User, "What is 2+2?"),
            message("fleet", "lead", "r1", s, t + 2, MessageRole::Assistant, ""),
            // The lead delegates; the delegate's run carries the session id too.
            message("fleet", "math", "r1.d1", s, t + 3, MessageRole::User, "compute 2+2"),
            message("fleet", "math", "r1.d1", s, t + 4, MessageRole::Assistant, "4"),
            interaction("fleet", "math", "r1.d1", Some(s), t + 5, &delegated),
            message("fleet", "lead", "r1", s, t + 6, MessageRole::Tool, "4"),
            message("fleet", "lead", "r1", s, t + 7, MessageRole::Assistant, "It is 4."),
            interaction("fleet", "lead", "r1", Some(s), t + 8, &Shape::default()),
            message("fleet", "lead", "r2", s, t + 10, MessageRole::User, "And times 3?"),
            message("fleet", "lead", "r2", s, t + 11, MessageRole::Assistant, "12."),
            message("fleet", "lead", "r3", s, t + 20, MessageRole::User, "Thanks"),
        ])
        .await;
    let turns = sessions::conversation(&history.pool, "fleet", s, 10).await.expect("conversation");
    let flat: Vec<_> =
        turns.iter().map(|t| (t.request_id.as_str(), t.user.as_str(), t.assistant.as_deref())).collect();
    assert_eq!(
        flat,
        [
            ("r1", "What is 2+2?", Some("It is 4.")),
            ("r2", "And times 3?", Some("12.")),
            ("r3", "Thanks", None)
        ]
    );
    let last_two = sessions::conversation(&history.pool, "fleet", s, 2).await.expect("conversation");
    assert_eq!(last_two.iter().map(|t| t.request_id.as_str()).collect::<Vec<_>>(), ["r2", "r3"]);

    let all = sessions::messages(&history.pool, "fleet", s, 500, None).await.expect("messages");
    assert_eq!(all.items.len(), 9);
    assert_eq!(all.items[0].content, "What is 2+2?");
    let (mut walked, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page = sessions::messages(&history.pool, "fleet", s, 3, cursor.as_deref()).await.expect("page");
        walked.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, all.items);
    let unknown = sessions::messages(&history.pool, "fleet", "nope", 5, None).await.expect_err("unknown");
    assert!(matches!(unknown, HistoryError::NotFound { .. }), "{unknown}");
    let unknown = sessions::conversation(&history.pool, "fleet", "nope", 5).await.expect_err("unknown");
    assert!(matches!(unknown, HistoryError::NotFound { .. }), "{unknown}");
    let bad = sessions::messages(&history.pool, "fleet", s, 5, Some("0")).await.expect_err("bad cursor");
    assert!(matches!(bad, HistoryError::InvalidInput { field: "cursor", .. }), "{bad}");
}
