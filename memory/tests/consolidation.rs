//! Retention and consolidation against the real PostgreSQL: what a run deletes and merges, what
//! it keeps, and that the runners' indexes stay right when the change log is cut under them.

mod support;

use std::time::Duration;

use agentry_memory::consolidation::{RetentionPolicy, consolidate};
use agentry_memory::{
    Embedder, HashingEmbedder, MemoryScope, MemoryStore, MemoryType, NewMemory, StoreOptions,
};
use sqlx::PgPool;
use support::ScratchStore;
use uuid::Uuid;

const DIMENSIONS: usize = 384;

async fn open(pool: PgPool) -> MemoryStore {
    let embedder = Embedder::Hashing(HashingEmbedder::new(DIMENSIONS).expect("embedder"));
    MemoryStore::open(pool, embedder, StoreOptions::new(DIMENSIONS)).await.expect("open")
}

fn memory(kind: MemoryType, content: &str, importance: f32, tags: &[&str]) -> NewMemory {
    NewMemory {
        kind,
        content: content.into(),
        importance,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        expires_in_seconds: None,
    }
}

async fn contents(pool: &PgPool, agent: &str) -> Vec<(String, String, f32)> {
    sqlx::query_as("SELECT type, content, importance FROM memories WHERE agent = $1 ORDER BY content, type")
        .bind(agent)
        .fetch_all(pool)
        .await
        .expect("contents")
}

async fn backdate(pool: &PgPool, id: Uuid, column: &str, days: f64) {
    let sql = format!("UPDATE memories SET {column} = now() - make_interval(secs => $2) WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(days * 86_400.0)
        .execute(pool)
        .await
        .expect("backdate");
}

#[tokio::test]
async fn a_run_prunes_expired_old_and_unimportant_memories_and_merges_duplicates() {
    let scratch = ScratchStore::new().await;
    let store = open(scratch.pool.clone()).await;
    let alice = MemoryScope::agent("team-a", "alice");
    let bob = MemoryScope::agent("team-a", "bob");
    let semantic = MemoryType::Semantic;
    let keep = store
        .remember(&alice, &memory(semantic, "The customer's plan is Pro", 0.8, &[]))
        .await
        .expect("store");
    let expired =
        store.remember(&alice, &memory(semantic, "The build is red today", 0.9, &[])).await.expect("store");
    backdate(&scratch.pool, expired.id, "expires_at", 0.001).await;
    let old = store
        .remember(&alice, &memory(semantic, "The office moved to Leeds", 0.9, &[]))
        .await
        .expect("store");
    backdate(&scratch.pool, old.id, "created_at", 40.0).await;
    store
        .remember(&alice, &memory(semantic, "Someone mentioned the weather", 0.05, &[]))
        .await
        .expect("store");
    // Near-duplicates: the second is kept (more important) with the importance combined.
    store
        .remember(&alice, &memory(semantic, "Invoices go out on the first Monday", 0.5, &["billing"]))
        .await
        .expect("store");
    store
        .remember(&alice, &memory(semantic, "Invoices go out on the first Monday.", 0.6, &["dates"]))
        .await
        .expect("store");
    // Two low-importance duplicates reinforce each other above the threshold: 1 − 0.92² = 0.1536.
    store.remember(&alice, &memory(semantic, "The cafe closes at five", 0.08, &[])).await.expect("store");
    store.remember(&alice, &memory(semantic, "The cafe closes at five", 0.08, &[])).await.expect("store");
    // The same text as another type, and as another agent, is not a duplicate.
    store
        .remember(&alice, &memory(MemoryType::Procedural, "Invoices go out on the first Monday", 0.5, &[]))
        .await
        .expect("store");
    store
        .remember(&bob, &memory(semantic, "Invoices go out on the first Monday", 0.5, &[]))
        .await
        .expect("store");
    for (i, importance) in [0.2, 0.3, 0.4, 0.5].into_iter().enumerate() {
        let text = format!("Bob's note {i} about {}", ["kettles", "rockets", "gardens", "violins"][i]);
        store.remember(&bob, &memory(semantic, &text, importance, &[])).await.expect("store");
    }
    // Alice's index is loaded before the run, so it must learn of the deletes and the merge.
    assert!(!store.recall(&alice, "office moved Leeds", 3, 0.3).await.expect("recall").is_empty());

    let policy = RetentionPolicy {
        max_age_days: Some(30),
        min_importance: Some(0.1),
        max_per_agent: Some(4),
        ..RetentionPolicy::default()
    };
    let report = consolidate(&scratch.pool, &policy).await.expect("consolidate");
    assert_eq!(
        (report.expired, report.too_old, report.merged, report.unimportant),
        (1, 1, 2, 1),
        "{report:?}"
    );
    // Bob had 5: the least important one goes.
    assert_eq!(report.over_limit, 1, "{report:?}");
    assert_eq!(report.memory_count, 8, "{report:?}");

    let alice_left = contents(&scratch.pool, "alice").await;
    let expect_alice = [
        ("semantic", "Invoices go out on the first Monday.", 0.8f32),
        ("procedural", "Invoices go out on the first Monday", 0.5),
        ("semantic", "The cafe closes at five", 0.1536),
        ("semantic", "The customer's plan is Pro", 0.8),
    ];
    assert_eq!(alice_left.len(), expect_alice.len(), "{alice_left:?}");
    for (kind, content, importance) in expect_alice {
        assert!(
            alice_left.iter().any(|(k, c, i)| k == kind && c == content && (i - importance).abs() < 1e-4),
            "{kind} {content:?} {importance} not in {alice_left:?}"
        );
    }
    let tags: Vec<String> = sqlx::query_scalar(
        "SELECT tags FROM memories WHERE content = 'Invoices go out on the first Monday.'",
    )
    .fetch_one(&scratch.pool)
    .await
    .expect("tags");
    assert_eq!(tags, ["billing", "dates"]);
    let bob_left: Vec<String> = contents(&scratch.pool, "bob").await.into_iter().map(|(_, c, _)| c).collect();
    assert_eq!(bob_left.len(), 4, "{bob_left:?}");
    assert!(!bob_left.iter().any(|c| c.contains("kettles")), "the least important note stays: {bob_left:?}");
    assert!(bob_left.contains(&"Invoices go out on the first Monday".to_string()));

    // The index followed the deletes.
    assert!(store.recall(&alice, "build red today", 3, 0.3).await.expect("recall").is_empty());
    assert!(store.recall(&alice, "office moved Leeds", 3, 0.3).await.expect("recall").is_empty());
    assert_eq!(store.index_size(&alice).await.map(|(n, _)| n), Some(4));
    let found = store.recall(&alice, "customer's plan", 1, 0.3).await.expect("recall");
    assert_eq!(found.first().map(|m| m.memory.id), Some(keep.id));

    // A second run finds nothing more to do.
    let again = consolidate(&scratch.pool, &policy).await.expect("consolidate again");
    assert_eq!((again.expired, again.merged, again.unimportant, again.over_limit), (0, 0, 0, 0), "{again:?}");
    assert_eq!(again.memory_count, 8);
}

#[tokio::test]
async fn an_index_behind_a_cut_change_log_reloads_and_misses_nothing() {
    let scratch = ScratchStore::new().await;
    let reader = open(scratch.pool.clone()).await;
    let writer = open(scratch.another_pool()).await;
    let scope = MemoryScope::agent("ns", "carol");
    let semantic = MemoryType::Semantic;
    writer
        .remember(&scope, &memory(semantic, "The first note is about kettles", 0.5, &[]))
        .await
        .expect("store");
    assert_eq!(reader.recall(&scope, "kettles", 3, 0.1).await.expect("recall").len(), 1);

    // Written after the reader's look, then the whole log is cut before the reader looks again.
    let teapots = writer
        .remember(&scope, &memory(semantic, "The second note is about teapots", 0.5, &[]))
        .await
        .expect("store");
    let cut = RetentionPolicy {
        change_log_keep: Duration::ZERO,
        duplicate_similarity: None,
        ..RetentionPolicy::default()
    };
    let report = consolidate(&scratch.pool, &cut).await.expect("consolidate");
    assert!(report.changes_pruned >= 2, "{report:?}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_changes")
        .fetch_one(&scratch.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);

    let found = reader.recall(&scope, "teapots", 3, 0.1).await.expect("recall");
    assert_eq!(found.first().map(|m| m.memory.id), Some(teapots.id), "{found:?}");
    // Deleted and cut again: the reader, now past the first cut, learns of it through the second.
    assert!(writer.forget(&scope, teapots.id).await.expect("forget"));
    consolidate(&scratch.pool, &cut).await.expect("consolidate");
    assert!(reader.recall(&scope, "teapots", 3, 0.3).await.expect("recall").is_empty());
    assert_eq!(reader.index_size(&scope).await.map(|(n, _)| n), Some(1));

    // With the log intact, a fresh index does not reload on every search: it keeps its cursor.
    writer.remember(&scope, &memory(semantic, "A third note about violins", 0.5, &[])).await.expect("store");
    assert_eq!(reader.recall(&scope, "violins", 3, 0.3).await.expect("recall").len(), 1);
}
