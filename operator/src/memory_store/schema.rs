//! The memory tables of a MemoryStore (DESIGN.md §5): connecting to its PostgreSQL, creating its
//! schema and applying the memory migrations (`agentry_memory::schema::migrations`, from
//! `memory/migrations/`), counting memories.
//!
//! Everything here lives in the MemoryStore's own PostgreSQL schema: the tables, and the
//! `_sqlx_migrations` table recording which migrations ran. The pools [`connect`] builds select
//! that schema through `search_path`, so the migrations and the queries name tables unqualified.

mod connection_uri;
mod store_error;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool, Postgres};

use connection_uri::Redactor;
pub use connection_uri::{ConnectionTarget, strip_credentials};
pub use store_error::StoreError;
use store_error::{classify, classify_migration};

/// Connections the operator keeps per MemoryStore: it only migrates and counts, one at a time.
pub const OPERATOR_POOL_SIZE: u32 = 2;

/// The table, inside the store's schema, recording the applied migrations.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The longest a migration may take, waiting for another replica's migration lock included.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Connections are kept this long unused: the operator looks at each store every few minutes, so
/// one connection usually survives from one reconcile to the next.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The newest migration version this build knows.
pub fn latest_migration() -> i64 {
    agentry_memory::schema::latest_migration()
}

/// What [`migrate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema migrated.
    pub schema: String,
    /// The newest migration now applied.
    pub version: i64,
    /// Migrations applied by this call, oldest first; empty when the schema was up to date. When
    /// two replicas migrate at once, both may list the same versions (the lock serialises the
    /// work, not this report).
    pub applied: Vec<i64>,
}

/// Whether `name` may hold the memory tables: a plain lower-case PostgreSQL identifier of at
/// most 63 bytes (`^[a-z_][a-z0-9_]{0,62}$`) that is not a system schema.
pub fn validate_schema_name(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let well_formed = name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    // PostgreSQL reserves pg_* for itself; information_schema belongs to the system.
    let reserved = name.starts_with("pg_") || name == "information_schema";
    if well_formed && !reserved {
        Ok(())
    } else {
        Err(StoreError::InvalidSchemaName { name: name.to_string() })
    }
}

/// Opens a pool on the database of `uri` whose connections use `schema` (through `search_path`,
/// set as a startup option so every connection the pool opens has it).
///
/// One connection is opened first, outside the pool, so a failure is reported as what it is
/// (refused, unknown host, wrong password, no such database) within `timeout` instead of a pool
/// retrying until it gives up with a bare timeout. The schema need not exist yet: [`migrate`]
/// creates it. Poolers that reject startup options (PgBouncer without
/// `ignore_startup_parameters`) need a direct connection.
pub async fn connect(uri: &str, schema: &str, timeout: Duration) -> Result<PgPool, StoreError> {
    validate_schema_name(schema)?;
    let redactor = Redactor::for_uri(uri);
    let options = parse_uri(uri, &redactor)?;
    let target = ConnectionTarget::of(&options);
    let options = options.options([("search_path", schema)]).application_name("agentry-operator");

    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(probe)) => {
            // The probe only proves the way in; the pool opens its own connections.
            let _ = probe.close().await;
        }
        Ok(Err(error)) => return Err(classify(&error, &target, &redactor)),
        Err(_) => {
            return Err(StoreError::Unreachable {
                target: target.to_string(),
                detail: format!("no answer within {} s", timeout.as_secs_f32()),
            });
        }
    }

    Ok(PgPoolOptions::new()
        .max_connections(OPERATOR_POOL_SIZE)
        .min_connections(0)
        .acquire_timeout(timeout)
        .idle_timeout(IDLE_TIMEOUT)
        .connect_lazy_with(options))
}

/// Creates `schema` if it is missing and applies the memory migrations there; idempotent.
///
/// Safe when several operator replicas (or other processes) migrate at once: sqlx holds a
/// PostgreSQL advisory lock for the database while it migrates, and a schema created by someone
/// else between our check and our `CREATE SCHEMA` counts as created. `pool` must come from
/// [`connect`] with the same schema; a pool whose `search_path` selects another schema is refused
/// rather than migrated into the wrong place.
pub async fn migrate(pool: &PgPool, schema: &str) -> Result<MigrationReport, StoreError> {
    validate_schema_name(schema)?;
    let target = ConnectionTarget::of(&pool.connect_options());
    let redactor = Redactor::default();
    let mut conn: PoolConnection<Postgres> =
        pool.acquire().await.map_err(|error| classify(&error, &target, &redactor))?;
    let outcome =
        tokio::time::timeout(MIGRATION_TIMEOUT, migrate_on(&mut conn, schema, &target, &redactor)).await;
    let outcome = outcome.unwrap_or_else(|_| {
        Err(StoreError::MigrationFailed {
            schema: schema.to_string(),
            target: target.to_string(),
            detail: format!(
                "not finished within {} s (another process may hold the migration lock)",
                MIGRATION_TIMEOUT.as_secs()
            ),
        })
    });
    if outcome.is_err() {
        // sqlx leaves its session-level advisory lock held when a migration fails; ending the
        // session is the only sure way to release it for the other replicas.
        conn.close_on_drop();
    }
    outcome
}

async fn migrate_on(
    conn: &mut PgConnection,
    schema: &str,
    target: &ConnectionTarget,
    redactor: &Redactor,
) -> Result<MigrationReport, StoreError> {
    let query_failed = |error: sqlx::Error| classify(&error, target, redactor);

    // The migrations name their tables unqualified; make sure they land in `schema`, before
    // creating anything.
    let search_path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
        .fetch_one(&mut *conn)
        .await
        .map_err(query_failed)?;
    if first_in_search_path(&search_path) != schema {
        return Err(StoreError::MigrationFailed {
            schema: schema.to_string(),
            target: target.to_string(),
            detail: format!(
                "the connection's search_path is {search_path:?}, which does not start with {schema}: open \
                 the pool with memory_schema::connect"
            ),
        });
    }
    ensure_schema(conn, schema, target, redactor).await?;

    let table = format!("{}.{MIGRATIONS_TABLE}", quote_ident(schema));
    let before = applied_versions(conn, schema, &table).await.map_err(query_failed)?;
    let mut migrator = Migrator::with_migrations(migrations());
    migrator.dangerous_set_table_name(table.clone());
    // `run_direct` rather than `run`: `run` is generic over `Acquire<'a>`, which makes this
    // future not provably `Send` for every lifetime (sqlx's own note on `run_direct`).
    migrator
        .run_direct(None, &mut *conn, false)
        .await
        .map_err(|error| classify_migration(&error, schema, target, redactor))?;
    let after = applied_versions(conn, schema, &table).await.map_err(query_failed)?;

    Ok(MigrationReport {
        schema: schema.to_string(),
        version: after.last().copied().unwrap_or(0),
        applied: after.difference(&before).copied().collect(),
    })
}

/// Creates the schema unless it exists. Checking first lets a role that owns a schema created
/// for it, but may not create schemas, still migrate.
async fn ensure_schema(
    conn: &mut PgConnection,
    schema: &str,
    target: &ConnectionTarget,
    redactor: &Redactor,
) -> Result<(), StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(&mut *conn)
        .await
        .map_err(|error| classify(&error, target, redactor))?;
    if exists {
        return Ok(());
    }
    let create = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
    match sqlx::query(AssertSqlSafe(create)).execute(&mut *conn).await {
        Ok(_) => Ok(()),
        // Two sessions creating the same schema at once: IF NOT EXISTS does not stop the loser
        // from failing on the catalogue's unique index. The schema exists either way.
        Err(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("23505" | "42P06")) => Ok(()),
        Err(error) => Err(classify(&error, target, redactor)),
    }
}

/// The migrations recorded as applied in `table`, or none when the table does not exist yet.
async fn applied_versions(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<BTreeSet<i64>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
    )
    .bind(schema)
    .bind(MIGRATIONS_TABLE)
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Ok(BTreeSet::new());
    }
    let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM {table} WHERE success ORDER BY version"
    )))
    .fetch_all(&mut *conn)
    .await?;
    Ok(versions.into_iter().collect())
}

/// How many memories the store holds, across agents.
pub async fn memory_count(pool: &PgPool) -> Result<i64, StoreError> {
    let target = ConnectionTarget::of(&pool.connect_options());
    sqlx::query_scalar("SELECT count(*) FROM memories")
        .fetch_one(pool)
        .await
        .map_err(|error| classify(&error, &target, &Redactor::default()))
}

/// The memory crate owns the migrations: the runners that search the tables and the operator
/// that migrates them must agree on every version.
fn migrations() -> Vec<Migration> {
    agentry_memory::schema::migrations()
}

fn parse_uri(uri: &str, redactor: &Redactor) -> Result<PgConnectOptions, StoreError> {
    let scheme = uri.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        return Err(StoreError::InvalidConnectionUri {
            detail: "it must start with postgres:// or postgresql://".to_string(),
        });
    }
    PgConnectOptions::from_str(uri)
        .map_err(|error| StoreError::InvalidConnectionUri { detail: redactor.scrub(&error.to_string()) })
}

/// The first schema of a `search_path` setting, unquoted.
fn first_in_search_path(search_path: &str) -> String {
    let first = search_path.split(',').next().unwrap_or_default().trim();
    match first.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => first.to_string(),
    }
}

/// `name` as a quoted identifier. Names are validated first; quoting still keeps reserved words
/// such as `user` usable as schema names.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_follow_postgres_identifiers() {
        for good in ["agentry", "_x", "agentry_fleet_2", "user", &"a".repeat(63)] {
            assert!(validate_schema_name(good).is_ok(), "{good}");
        }
        for bad in
            ["", "Agentry", "1abc", "a-b", "a b", "a\"b", "pg_catalog", "information_schema", &"a".repeat(64)]
        {
            let error = validate_schema_name(bad).expect_err(bad);
            assert_eq!(error.reason(), "InvalidSchemaName");
        }
    }

    #[test]
    fn migrations_are_ordered_and_unique() {
        let versions: Vec<i64> = migrations().iter().map(|m| m.version).collect();
        assert_eq!(versions, vec![1, 2, 3]);
        assert_eq!(latest_migration(), 3);
    }

    #[test]
    fn only_postgres_schemes_are_accepted() {
        let redactor = Redactor::default();
        assert!(parse_uri("postgres://u@h/db", &redactor).is_ok());
        assert!(parse_uri("postgresql://u@h/db", &redactor).is_ok());
        let error = parse_uri("mysql://u:hunter2@h/db", &redactor).expect_err("mysql");
        assert_eq!(error.reason(), "InvalidConnectionUri");
        assert!(!error.to_string().contains("hunter2"));
        assert!(parse_uri("host=h password=hunter2", &redactor).is_err());
    }

    #[test]
    fn invalid_port_is_an_invalid_uri_without_the_password() {
        let uri = "postgres://u:hunter2@h:99999/db";
        let error = parse_uri(uri, &Redactor::for_uri(uri)).expect_err("bad port");
        assert_eq!(error.reason(), "InvalidConnectionUri");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn search_path_head_is_unquoted() {
        assert_eq!(first_in_search_path("agentry_fleet"), "agentry_fleet");
        assert_eq!(first_in_search_path("\"user\", public"), "user");
        assert_eq!(first_in_search_path("\"$user\", public"), "$user");
        assert_eq!(first_in_search_path(""), "");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
