//! MemoryStore against the real PostgreSQL: migrated and Ready; refused credentials reported
//! without the password anywhere a person or a log can see.

use agentry_crds::MemoryStore;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;

use agentry_tests::operator_world::{CONVERGE, World, apply, database_url};

async fn wait_store(world: &World, name: &str, want: &str) -> MemoryStore {
    world.wait_reason::<MemoryStore>(name, "Ready", want).await;
    Api::<MemoryStore>::namespaced(world.client.clone(), &world.ns).get(name).await.expect("store")
}

/// A MemoryStore reading its URI from `secret` key `uri`, in `schema`.
pub(crate) fn store(world: &World, name: &str, secret: &str, schema: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "MemoryStore",
        "metadata": {"name": name, "namespace": world.ns},
        "spec": {
            "postgres": {"connectionSecretRef": {"name": secret, "key": "uri"}, "schema": schema},
            "embedding": {"provider": "hashing", "dimensions": 256}
        }
    })
}

fn secret(world: &World, name: &str, uri: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": world.ns},
        "stringData": {"uri": uri}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_store_migrates_and_a_refused_login_never_shows_the_password() {
    let world = World::start("memory").await;
    let _operator = world.start_operator().await;
    let schema = format!("agentry_{}", world.ns.replace('-', "_"));
    apply(&world.client, &secret(&world, "good-db", &database_url())).await;
    apply(&world.client, &store(&world, "good", "good-db", &schema)).await;
    let ready = wait_store(&world, "good", "Migrated").await;
    assert_eq!(ready.status.as_ref().and_then(|s| s.memory_count), Some(0));
    let pool = sqlx::PgPool::connect(&database_url()).await.expect("postgres");
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&pool)
    .await
    .expect("tables");
    let tables: Vec<&str> = tables.iter().map(|(t,)| t.as_str()).collect();
    assert!(tables.contains(&"memories") && tables.contains(&"memory_blocks"), "{tables:?}");

    // This machine's PostgreSQL trusts loopback logins, so a wrong password alone is accepted;
    // a role that does not exist is refused the same way a bad password is (SQLSTATE 28000).
    let password = "s3cr3t-Pa55word";
    let uri = format!("postgres://no_such_role_{}:{password}@127.0.0.1:5432/postgres", std::process::id());
    apply(&world.client, &secret(&world, "bad-db", &uri)).await;
    apply(&world.client, &store(&world, "bad", "bad-db", &schema)).await;
    let refused = wait_store(&world, "bad", "AuthenticationFailed").await;
    let status = serde_json::to_string(&refused.status).expect("status json");
    assert!(!status.contains(password), "the password leaked into status: {status}");

    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.ns);
    world
        .eventually_explained(CONVERGE, "an AuthenticationFailed event", || async {
            let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            let texts: Vec<String> =
                list.items.iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect();
            assert!(texts.iter().all(|t| !t.contains(password)), "the password leaked into an event");
            texts
                .iter()
                .any(|t| t.contains("AuthenticationFailed"))
                .then_some(())
                .ok_or(format!("{texts:#?}"))
        })
        .await;
    let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await.expect("cleanup");
}
