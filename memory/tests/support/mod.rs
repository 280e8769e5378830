//! A migrated memory schema of the test's own on the test PostgreSQL, dropped afterwards.

use agentry_memory::{schema, store};
use sqlx::PgPool;

/// The test PostgreSQL.
pub(crate) fn database_url() -> String {
    std::env::var("AGENTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A unique schema, migrated; dropped on drop.
pub(crate) struct ScratchStore {
    /// The schema.
    pub(crate) schema: String,
    /// A pool on it.
    pub(crate) pool: PgPool,
}

impl ScratchStore {
    pub(crate) async fn new() -> Self {
        let schema = format!("agentry_mem_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let pool = store::pool(&database_url(), &schema, 4).expect("pool");
        schema::migrate(&pool, &schema).await.expect("migrate");
        Self { schema, pool }
    }

    /// Another pool on the same schema, as another process would have.
    pub(crate) fn another_pool(&self) -> PgPool {
        store::pool(&database_url(), &self.schema, 4).expect("pool")
    }
}

impl Drop for ScratchStore {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&database_url())
                    .await
                    .expect("connect");
                let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
            });
        });
        let _ = cleanup.join();
    }
}
