//! The memory store against the real PostgreSQL: agents remember and recall, see only their
//! own memories, and an index stays in sync with writes made through another process's store.

mod support;

use std::time::Duration;

use agentry_memory::{
    Embedder, HashingEmbedder, MemoryError, MemoryScope, MemoryStore, MemoryType, NewMemory, SearchEngine,
    StoreOptions,
};
use support::ScratchStore;

const DIMENSIONS: usize = 384;

async fn open(pool: sqlx::PgPool) -> MemoryStore {
    let embedder = Embedder::Hashing(HashingEmbedder::new(DIMENSIONS).expect("embedder"));
    MemoryStore::open(pool, embedder, StoreOptions::new(DIMENSIONS)).await.expect("open")
}

fn fact(content: &str, importance: f32) -> NewMemory {
    NewMemory { importance, ..NewMemory::semantic(content) }
}

#[tokio::test]
async fn an_agent_recalls_its_own_memories_and_not_another_agents() {
    let scratch = ScratchStore::new().await;
    let store = open(scratch.pool.clone()).await;
    assert_eq!(store.engine(), SearchEngine::InProcess, "this machine's PostgreSQL has no pgvector");
    let alice = MemoryScope::agent("team-a", "alice");
    let bob = MemoryScope::agent("team-a", "bob");
    store.remember(&alice, &fact("The customer's favourite colour is teal", 0.9)).await.expect("store");
    store.remember(&alice, &fact("Invoices are sent on the first Monday", 0.4)).await.expect("store");
    store.remember(&bob, &fact("Bob's own note about deployment windows", 0.5)).await.expect("store");

    let found =
        store.recall(&alice, "what is the customer's favourite colour?", 5, 0.2).await.expect("recall");
    assert_eq!(
        found.first().map(|m| m.memory.content.as_str()),
        Some("The customer's favourite colour is teal")
    );
    assert!(found.iter().all(|m| m.memory.agent == "alice"), "{found:?}");
    assert!(found[0].score <= found[0].similarity && found[0].similarity > 0.4, "{found:?}");

    let for_bob =
        store.recall(&bob, "what is the customer's favourite colour?", 5, 0.0).await.expect("recall");
    assert!(for_bob.iter().all(|m| m.memory.agent == "bob"), "{for_bob:?}");
    assert!(!for_bob.iter().any(|m| m.memory.content.contains("teal")));

    // The same agent name in another namespace is another agent.
    let elsewhere = MemoryScope::agent("team-b", "alice");
    assert!(store.recall(&elsewhere, "favourite colour", 5, 0.0).await.expect("recall").is_empty());

    // A shared scope sees every agent of the namespace.
    let shared = MemoryScope { shared: true, ..bob.clone() };
    let all = store.recall(&shared, "favourite colour teal", 10, 0.0).await.expect("recall");
    assert!(all.iter().any(|m| m.memory.agent == "alice") && all.iter().any(|m| m.memory.agent == "bob"));
}

#[tokio::test]
async fn writes_through_another_store_reach_a_loaded_index() {
    let scratch = ScratchStore::new().await;
    let reader = open(scratch.pool.clone()).await;
    let writer = open(scratch.another_pool()).await;
    let scope = MemoryScope::agent("ns", "carol");
    let first =
        writer.remember(&scope, &fact("The staging database lives in eu-west", 0.5)).await.expect("store");
    assert_eq!(
        reader.recall(&scope, "where is the staging database", 3, 0.1).await.expect("recall").len(),
        1
    );
    assert_eq!(reader.index_size(&scope).await.map(|(n, _)| n), Some(1));

    // Stored and forgotten through the other store after the index loaded.
    writer.remember(&scope, &fact("The production database lives in us-east", 0.5)).await.expect("store");
    assert!(writer.forget(&scope, first.id).await.expect("forget"));
    let found = reader.recall(&scope, "where does the database live", 3, 0.1).await.expect("recall");
    let contents: Vec<&str> = found.iter().map(|m| m.memory.content.as_str()).collect();
    assert_eq!(contents, ["The production database lives in us-east"]);
    assert_eq!(reader.index_size(&scope).await.map(|(n, _)| n), Some(1));
    // Another agent cannot forget carol's memory.
    let other = MemoryScope::agent("ns", "dave");
    assert!(!writer.forget(&other, found[0].memory.id).await.expect("forget"));
}

#[tokio::test]
async fn expired_memories_are_not_found_and_fields_round_trip() {
    let scratch = ScratchStore::new().await;
    let store = open(scratch.pool.clone()).await;
    let scope = MemoryScope::agent("ns", "erin");
    let working = NewMemory {
        kind: MemoryType::Working,
        content: "The current ticket is OPS-42".into(),
        importance: 0.3,
        tags: vec!["ticket".into(), "ops".into()],
        expires_in_seconds: Some(1),
    };
    let stored = store.remember(&scope, &working).await.expect("store");
    assert_eq!((stored.kind, stored.tags.clone()), (MemoryType::Working, working.tags.clone()));
    let expires_at = stored.expires_at.expect("expiry");
    assert!((expires_at - stored.created_at - 1.0).abs() < 0.01, "{stored:?}");
    let found = store.recall(&scope, "current ticket", 3, 0.1).await.expect("recall");
    assert_eq!(found.len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if store.recall(&scope, "current ticket", 3, 0.1).await.expect("recall").is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the expired memory is still found");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn bad_input_and_other_dimensions_are_refused_with_reasons() {
    let scratch = ScratchStore::new().await;
    let store = open(scratch.pool.clone()).await;
    let scope = MemoryScope::agent("ns", "fay");
    let error = store.remember(&scope, &fact("x", 2.0)).await.expect_err("importance");
    assert!(error.to_string().contains("importance"), "{error}");
    let error = store.recall(&scope, "x", 0, 0.0).await.expect_err("topK");
    assert!(error.to_string().contains("topK"), "{error}");
    let error = store.recall_by_vector(&scope, vec![0.1; 10], 3, 0.0).await.expect_err("length");
    assert!(matches!(error, MemoryError::DimensionMismatch { expected: 384, actual: 10, .. }), "{error}");

    // The store recorded 384 on first open; opening it for 768 is refused.
    let embedder = Embedder::Hashing(HashingEmbedder::new(768).expect("embedder"));
    let error =
        MemoryStore::open(scratch.pool.clone(), embedder, StoreOptions::new(768)).await.expect_err("768");
    assert!(error.to_string().contains("768") && error.to_string().contains("384"), "{error}");
    // An embedder of another length than the options say.
    let embedder = Embedder::Hashing(HashingEmbedder::new(128).expect("embedder"));
    assert!(MemoryStore::open(scratch.pool.clone(), embedder, StoreOptions::new(384)).await.is_err());
}

#[tokio::test]
async fn a_top_k_above_the_tuned_candidates_gets_that_many() {
    let scratch = ScratchStore::new().await;
    let store = open(scratch.pool.clone()).await;
    let scope = MemoryScope::agent("ns", "gus");
    for i in 0..70 {
        store
            .remember(&scope, &fact(&format!("release note number {i} about the billing service"), 0.5))
            .await
            .expect("store");
    }
    let found = store.recall(&scope, "billing release note", 65, -1.0).await.expect("recall");
    assert_eq!(found.len(), 65);
    assert!(found.windows(2).all(|w| w[0].score >= w[1].score), "best score first");
}

#[tokio::test]
async fn a_write_committed_behind_the_cursor_is_still_picked_up() {
    let scratch = ScratchStore::new().await;
    let reader = open(scratch.pool.clone()).await;
    let scope = MemoryScope::agent("ns", "hal");
    reader.remember(&scope, &fact("The first note is about kettles", 0.5)).await.expect("store");
    assert_eq!(reader.recall(&scope, "kettles", 3, 0.1).await.expect("recall").len(), 1);

    // A transaction draws its seq, then another write commits with a later seq and the reader
    // moves its cursor past both before the first transaction commits.
    let slow_pool = scratch.another_pool();
    let mut slow = slow_pool.begin().await.expect("begin");
    let vector = HashingEmbedder::new(DIMENSIONS).expect("embedder").embed("The slow note is about teapots");
    sqlx::query(
        "INSERT INTO memories (agent, namespace, type, content, embedding) VALUES ('hal', 'ns', 'semantic', $1, $2)",
    )
    .bind("The slow note is about teapots")
    .bind(&vector)
    .execute(&mut *slow)
    .await
    .expect("insert");
    let writer = open(scratch.another_pool()).await;
    writer.remember(&scope, &fact("The quick note is about teapots too", 0.5)).await.expect("store");
    let before = reader.recall(&scope, "teapots", 5, 0.1).await.expect("recall");
    assert_eq!(before.len(), 1, "{before:?}");
    slow.commit().await.expect("commit");

    let after = reader.recall(&scope, "teapots", 5, 0.1).await.expect("recall");
    let contents: Vec<&str> = after.iter().map(|m| m.memory.content.as_str()).collect();
    assert!(contents.contains(&"The slow note is about teapots"), "{contents:?}");
    assert_eq!(reader.index_size(&scope).await.map(|(n, _)| n), Some(3));
}
