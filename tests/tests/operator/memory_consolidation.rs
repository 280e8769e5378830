//! Retention and consolidation on a MemoryStore's schedule, against the real PostgreSQL: a run
//! on `* * * * *` prunes what the policy says and keeps the rest, reports `lastPrunedAt` and
//! `memoryCount`, runs again at the next minute; an invalid schedule is refused in status.

use std::time::Duration;

use agentry_crds::{ConditionStatus, MemoryStore};
use agentry_tests::operator_world::{World, condition_of, database_url, schema_for};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use sqlx::{AssertSqlSafe, PgPool};

use crate::memory::store;

/// A run may wait for the next minute, plus the operator's reconcile.
const RUN_DEADLINE: Duration = Duration::from_secs(100);

/// Inserts a memory of `agent` into `schema` with the SQL expressions given for its times.
async fn insert(
    pool: &PgPool,
    schema: &str,
    agent: &str,
    content: &str,
    importance: f32,
    times: (&str, &str),
) {
    let sql = format!(
        "INSERT INTO \"{schema}\".memories (agent, namespace, type, content, embedding, importance, created_at, expires_at) \
         VALUES ($1, 'team', 'semantic', $2, $3, $4, {}, {})",
        times.0, times.1
    );
    // Distinct directions per text, except for texts that differ only in punctuation.
    let key: String = content.chars().filter(|c| c.is_alphanumeric()).collect();
    let seed = key.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let vector: Vec<f32> = (0..16u32).map(|i| (seed.rotate_left(i) % 17) as f32 - 8.0).collect();
    sqlx::query(AssertSqlSafe(sql))
        .bind(agent)
        .bind(content)
        .bind(vector)
        .bind(importance)
        .execute(pool)
        .await
        .expect("insert");
}

async fn contents(pool: &PgPool, schema: &str) -> Vec<String> {
    let sql = format!("SELECT agent || ': ' || content FROM \"{schema}\".memories ORDER BY 1");
    sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(pool).await.expect("contents")
}

fn last_pruned(store: &MemoryStore) -> Option<Timestamp> {
    store.status.as_ref()?.last_pruned_at.as_ref().map(|t| t.0)
}

async fn wait_run_after(world: &World, api: &Api<MemoryStore>, after: Option<Timestamp>) -> MemoryStore {
    world
        .eventually_explained(RUN_DEADLINE, "a consolidation run", || async {
            let store = api.get("fleet").await.map_err(|e| e.to_string())?;
            match last_pruned(&store) {
                Some(at) if after.is_none_or(|after| at > after) => Ok(store),
                _ => Err(format!("{:?}", store.status)),
            }
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_prunes_what_the_policy_says_and_keeps_the_rest() {
    let world = World::start("consolidate").await;
    let _operator = world.start_operator().await;
    let schema = schema_for(&world.ns);
    let pool = PgPool::connect(&database_url()).await.expect("postgres");
    world
        .apply(&serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "fleet-db", "namespace": world.ns},
            "stringData": {"uri": database_url()}
        }))
        .await;
    let mut spec = store(&world, "fleet", "fleet-db", &schema);
    spec["spec"]["retention"] = serde_json::json!({"maxAgeDays": 30, "minImportance": 0.1, "maxPerAgent": 3});
    world.apply(&spec).await;
    world.wait_reason::<MemoryStore>("fleet", "Ready", "Migrated").await;

    let now = ("now()", "NULL");
    insert(&pool, &schema, "alice", "The customer's plan is Pro", 0.8, now).await;
    insert(&pool, &schema, "alice", "The build is red", 0.9, ("now()", "now() - interval '1 minute'")).await;
    insert(&pool, &schema, "alice", "The office moved to Leeds", 0.9, ("now() - interval '40 days'", "NULL"))
        .await;
    insert(&pool, &schema, "alice", "Someone mentioned the weather", 0.05, now).await;
    insert(&pool, &schema, "alice", "Invoices go out on Mondays", 0.5, now).await;
    insert(&pool, &schema, "alice", "Invoices go out on Mondays!", 0.6, now).await;
    for (i, importance) in [0.2f32, 0.3, 0.4, 0.5].into_iter().enumerate() {
        insert(&pool, &schema, "bob", &format!("Bob's note {i}"), importance, now).await;
    }

    // The schedule comes now, so the run sees every memory above.
    let api: Api<MemoryStore> = Api::namespaced(world.client.clone(), &world.ns);
    let patch = serde_json::json!({"spec": {"consolidation": {"schedule": "* * * * *"}}});
    api.patch("fleet", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("schedule");
    let first = wait_run_after(&world, &api, None).await;
    assert_eq!(
        contents(&pool, &schema).await,
        [
            "alice: Invoices go out on Mondays!",
            "alice: The customer's plan is Pro",
            "bob: Bob's note 1",
            "bob: Bob's note 2",
            "bob: Bob's note 3",
        ]
    );
    let status = first.status.clone().expect("status");
    assert_eq!(status.memory_count, Some(5));
    assert_eq!(status.observed_generation, first.metadata.generation);
    let consolidated = condition_of(&first, "Consolidated").expect("Consolidated condition");
    assert_eq!(consolidated.status, ConditionStatus::True, "{consolidated:?}");
    assert!(consolidated.message.contains("merged 1 near-duplicates"), "{}", consolidated.message);
    let importance: f32 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT importance FROM \"{schema}\".memories WHERE content = 'Invoices go out on Mondays!'"
    )))
    .fetch_one(&pool)
    .await
    .expect("importance");
    assert!((importance - 0.8).abs() < 1e-4, "combined importance {importance}");

    // The next run comes at the next minute, on the minute, and prunes what expired since.
    insert(&pool, &schema, "alice", "A working note", 0.9, ("now()", "now()")).await;
    let first_at = last_pruned(&first).expect("first run");
    let second = wait_run_after(&world, &api, Some(first_at)).await;
    let second_at = last_pruned(&second).expect("second run");
    let minute_of = |t: Timestamp| t.as_second().div_euclid(60);
    assert_eq!(minute_of(second_at), minute_of(first_at) + 1, "{first_at} then {second_at}");
    assert!(second_at.as_second().rem_euclid(60) < 30, "not on the minute: {second_at}");
    assert_eq!(contents(&pool, &schema).await.len(), 5);

    // An invalid schedule is refused in status, and nothing runs.
    let patch = serde_json::json!({"spec": {"consolidation": {"schedule": "61 * * * *"}}});
    api.patch("fleet", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("schedule");
    let refused = world.wait_reason::<MemoryStore>("fleet", "Consolidated", "InvalidSchedule").await;
    assert_eq!(refused.status, ConditionStatus::False);
    assert!(refused.message.contains("minute field: 61 is outside 0..59"), "{}", refused.message);
    let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    sqlx::query(AssertSqlSafe(drop)).execute(&pool).await.expect("cleanup");
}
