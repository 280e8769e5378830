//! Why a MemoryStore is not ready, against the real PostgreSQL, and what its Agents say about it:
//! the exact reason, and a message naming the object at fault.

use agentry_crds::{Agent, ConditionStatus, MemoryStore};
use agentry_tests::operator_world::{World, database_url};

use crate::memory::store;
use sqlx::AssertSqlSafe;

/// `url` (`postgres://[user[:password]@]host[:port]/database[?query]`) with another user and
/// password, database or query.
fn rewrite_url(url: &str, user: Option<&str>, database: Option<&str>, query: Option<&str>) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .expect("a postgres URL");
    let (rest, old_query) = rest.split_once('?').map_or((rest, None), |(r, q)| (r, Some(q)));
    let (authority, old_database) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let old_user = authority.rsplit_once('@').map(|(user, _)| user);
    let user = user.or(old_user).map(|u| format!("{u}@")).unwrap_or_default();
    let query = query.or(old_query).map(|q| format!("?{q}")).unwrap_or_default();
    format!("postgres://{user}{host}/{}{query}", database.unwrap_or(old_database))
}

fn secret(world: &World, name: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": world.ns},
        "stringData": data
    })
}

/// Applies a Secret holding `uri` and a MemoryStore using it.
async fn store_at(world: &World, name: &str, uri: &str, schema: &str) {
    let secret_name = format!("{name}-db");
    world.apply(&secret(world, &secret_name, serde_json::json!({"uri": uri}))).await;
    world.apply(&store(world, name, &secret_name, schema)).await;
}

/// Waits for `reason` on the store's `Ready`; checks it is False and its message names `names`.
async fn expect_reason(world: &World, store: &str, reason: &str, names: &[&str]) {
    let ready = world.wait_reason::<MemoryStore>(store, "Ready", reason).await;
    assert_eq!(ready.status, ConditionStatus::False, "{store}: {ready:?}");
    for name in names {
        assert!(
            ready.message.contains(name),
            "{store}: {reason} message does not name {name}: {}",
            ready.message
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stores_and_their_agents_say_what_is_wrong() {
    let world = World::start("store-reasons").await;
    let _operator = world.start_operator().await;
    let base = database_url();
    let schema = agentry_tests::operator_world::schema_for(&world.ns);
    let pool = sqlx::PgPool::connect(&base).await.expect("postgres");
    // A role that may log in but not create schemas (PostgreSQL 15 grants PUBLIC no CREATE on a
    // database). It has a password, so this holds under password authentication too.
    let role = schema.clone();
    sqlx::query(AssertSqlSafe(format!("CREATE ROLE {role} LOGIN PASSWORD 'e2e-only'")))
        .execute(&pool)
        .await
        .expect("role created");
    // A schema already migrated by a newer operator: it records a migration this one lacks.
    let newer = format!("{schema}_newer");
    for statement in [
        format!("CREATE SCHEMA {newer}"),
        format!(
            "CREATE TABLE {newer}._sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
             checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)"
        ),
        format!(
            "INSERT INTO {newer}._sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'from the future', true, '\\x00', 0)"
        ),
    ] {
        sqlx::query(AssertSqlSafe(statement)).execute(&pool).await.expect("newer schema prepared");
    }
    // Accepts connections (the kernel does, for a listener) but never answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("postgres://postgres@{}/postgres", silent.local_addr().expect("addr"));

    world.apply(&store(&world, "no-secret", "absent-db", &schema)).await;
    world.apply(&secret(&world, "keyless-db", serde_json::json!({"url": base}))).await;
    world.apply(&store(&world, "no-key", "keyless-db", &schema)).await;
    store_at(&world, "bad-uri", "mysql://somewhere/db", &schema).await;
    store_at(&world, "no-database", &rewrite_url(&base, None, Some("agentry_no_such_db"), None), &schema)
        .await;
    let denied_url = rewrite_url(&base, Some(&format!("{role}:e2e-only")), None, None);
    store_at(&world, "denied", &denied_url, &format!("{schema}_denied")).await;
    store_at(&world, "reserved", &base, "pg_agentry").await;
    store_at(&world, "newer", &base, &newer).await;
    store_at(&world, "tls", &rewrite_url(&base, None, None, Some("sslmode=verify-full")), &schema).await;
    store_at(&world, "silent", &silent_url, &schema).await;
    let keyless_model = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": "keyless", "namespace": world.ns},
        "spec": {"provider": "openai-compatible", "model": "m", "baseUrl": world.model.base_url()}
    });
    world.apply(&keyless_model).await;
    let agent = |name: &str, store: &str| {
        serde_json::json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": name, "namespace": world.ns},
            "spec": {"role": "worker", "modelRef": "keyless", "memory": {"storeRef": store}}
        })
    };
    world.apply(&agent("patient", "silent")).await;
    world.apply(&agent("forgetful", "ghost-store")).await;

    // While the operator waits for the silent server, the store has no verdict yet.
    let pending = world.wait_reason::<Agent>("patient", "MemoryBound", "MemoryStorePending").await;
    assert!(pending.message.contains("MemoryStore silent"), "{}", pending.message);
    let not_found = world.wait_reason::<Agent>("forgetful", "MemoryBound", "MemoryStoreNotFound").await;
    assert!(not_found.message.contains("MemoryStore ghost-store"), "{}", not_found.message);

    expect_reason(&world, "no-secret", "SecretNotFound", &["\"absent-db\""]).await;
    expect_reason(&world, "no-key", "KeyMissing", &["\"keyless-db\"", "\"uri\""]).await;
    expect_reason(&world, "bad-uri", "InvalidConnectionUri", &["\"bad-uri-db\""]).await;
    expect_reason(&world, "no-database", "DatabaseNotFound", &["\"agentry_no_such_db\""]).await;
    expect_reason(&world, "denied", "PermissionDenied", &[&format!("{role}@")]).await;
    expect_reason(&world, "reserved", "InvalidSchemaName", &["\"pg_agentry\""]).await;
    expect_reason(&world, "newer", "MigrationFailed", &[&newer, "migration 99"]).await;
    expect_reason(&world, "tls", "TlsFailed", &["\"tls-db\""]).await;
    expect_reason(&world, "silent", "Unreachable", &["\"silent-db\""]).await;
    let not_ready = world.wait_reason::<Agent>("patient", "MemoryBound", "MemoryStoreNotReady").await;
    assert!(
        not_ready.message.contains("MemoryStore silent") && not_ready.message.contains("Unreachable"),
        "{}",
        not_ready.message
    );

    drop(silent);
    for statement in [format!("DROP SCHEMA IF EXISTS {newer} CASCADE"), format!("DROP ROLE IF EXISTS {role}")]
    {
        sqlx::query(AssertSqlSafe(statement)).execute(&pool).await.expect("cleanup");
    }
}

#[test]
fn urls_are_rewritten_part_by_part() {
    let base = "postgres://postgres@127.0.0.1:5432/postgres";
    assert_eq!(rewrite_url(base, Some("r:p"), None, None), "postgres://r:p@127.0.0.1:5432/postgres");
    assert_eq!(rewrite_url(base, None, Some("x"), Some("a=b")), "postgres://postgres@127.0.0.1:5432/x?a=b");
    assert_eq!(rewrite_url("postgres://h:1/d?q=1", None, None, None), "postgres://h:1/d?q=1");
}
