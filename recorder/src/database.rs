//! The recorder's PostgreSQL: its connection URL (which holds a password, so it is never logged:
//! only [`describe`] is), the pool, and the migrations in `recorder/migrations/`, applied in the
//! recorder's own schema.
//!
//! Every connection selects that schema through `search_path`, so the migrations and the
//! queries name tables unqualified; the `_sqlx_migrations` table lives in the schema too.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool, SqlSafeStr};

/// Connections besides the writers': retention's and the health check's.
const SPARE_CONNECTIONS: u32 = 2;

/// How long a query waits for a connection; during an outage, how soon a write attempt fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order. A released version never changes: sqlx refuses a schema whose
/// applied migration differs from the one of the same version here.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "interactions", include_str!("../migrations/0001_interactions.sql")),
    (2, "messages", include_str!("../migrations/0002_messages.sql")),
    (3, "tool calls", include_str!("../migrations/0003_tool_calls.sql")),
    (4, "model calls", include_str!("../migrations/0004_model_calls.sql")),
    (5, "sessions", include_str!("../migrations/0005_sessions.sql")),
    (6, "history", include_str!("../migrations/0006_history.sql")),
];

/// What went wrong with the database settings or set-up. Never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The connection URL does not parse.
    #[error("the database URL is not a valid postgres:// URL: {0}")]
    InvalidUrl(String),
    /// The schema name is not a plain lower-case identifier.
    #[error("schema {0:?} is not a lower-case PostgreSQL identifier of at most 63 bytes")]
    InvalidSchema(String),
    /// Creating the schema or applying the migrations failed.
    #[error("migrating schema {schema} on {target}: {source}")]
    Migration {
        /// The schema.
        schema: String,
        /// Where, as [`describe`] says.
        target: String,
        /// What failed.
        #[source]
        source: sqlx::Error,
    },
}

/// Parses a `postgres://` URL; errors leave out the password it holds.
pub fn parse_url(url: &str) -> Result<PgConnectOptions, DatabaseError> {
    let scrub = |text: String| match password_of(url) {
        Some(password) if !password.is_empty() => text.replace(password, "***"),
        _ => text,
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(DatabaseError::InvalidUrl("it must start with postgres:// or postgresql://".into()));
    }
    PgConnectOptions::from_str(url).map_err(|error| DatabaseError::InvalidUrl(scrub(error.to_string())))
}

/// The password part of `scheme://user:password@host/...`, if any.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let user_info = rest.rsplit_once('@')?.0;
    user_info.split_once(':').map(|(_, password)| password)
}

/// Where `options` connect, fit for a log line: `host:port/database`, no user, no password.
pub fn describe(options: &PgConnectOptions) -> String {
    format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or("(default)"))
}

/// Whether `name` may be the recorder's schema: `^[a-z_][a-z0-9_]{0,62}$`, not a system schema.
pub fn validate_schema(name: &str) -> Result<(), DatabaseError> {
    let mut chars = name.chars();
    let well_formed = name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if well_formed && !name.starts_with("pg_") && name != "information_schema" {
        Ok(())
    } else {
        Err(DatabaseError::InvalidSchema(name.to_string()))
    }
}

/// A pool whose connections use `schema`, with room for `writers`; it connects on first use, so it can be made while
/// PostgreSQL is down, and replaces broken connections as it hands them out.
pub fn pool(options: &PgConnectOptions, schema: &str, writers: usize) -> Result<PgPool, DatabaseError> {
    validate_schema(schema)?;
    let options = options.clone().options([("search_path", schema)]).application_name("agentry-recorder");
    Ok(PgPoolOptions::new()
        .max_connections(u32::try_from(writers).unwrap_or(u32::MAX).saturating_add(SPARE_CONNECTIONS))
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(true)
        .connect_lazy_with(options))
}

/// Creates `schema` if missing and applies the migrations there; idempotent, and safe while
/// other replicas do the same (sqlx serialises migrations with an advisory lock). `pool` must
/// come from [`pool`] with the same schema.
pub async fn migrate(pool: &PgPool, schema: &str) -> Result<(), DatabaseError> {
    validate_schema(schema)?;
    let failed = |source| DatabaseError::Migration {
        schema: schema.to_string(),
        target: describe(&pool.connect_options()),
        source,
    };
    let mut conn = pool.acquire().await.map_err(failed)?;
    let outcome = migrate_on(&mut conn, schema).await;
    if outcome.is_err() {
        // sqlx keeps its session-level migration lock when a migration fails; only ending the
        // session surely releases it for the other replicas.
        conn.close_on_drop();
    }
    outcome.map_err(failed)
}

async fn migrate_on(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    let create = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
    match sqlx::query(AssertSqlSafe(create)).execute(&mut *conn).await {
        Ok(_) => {}
        // Two replicas creating it at once: the loser trips over the catalogue's unique index.
        Err(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("23505" | "42P06")) => {}
        Err(error) => return Err(error),
    }
    let mut migrator = Migrator::with_migrations(migrations());
    migrator.dangerous_set_table_name(format!("{}._sqlx_migrations", quote_ident(schema)));
    // `run_direct`: `run`'s future is not provably `Send` (sqlx's own note).
    migrator.run_direct(None, &mut *conn, false).await.map_err(|error| match error {
        sqlx::migrate::MigrateError::Execute(error) => error,
        other => sqlx::Error::Migrate(Box::new(other)),
    })
}

fn migrations() -> Vec<Migration> {
    MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect()
}

/// `name` as a quoted identifier (names are validated first; quoting keeps words such as `user`
/// usable).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_descriptions_leave_the_password_out() {
        let options = parse_url("postgres://rec:hunter2@db.example:6543/events").expect("parses");
        assert_eq!(describe(&options), "db.example:6543/events");
        let error = parse_url("postgres://rec:hunter2@db.example:99999/events").expect_err("bad port");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(parse_url("mysql://rec:hunter2@h/db").is_err());
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["agentry", "_x", "agentry_test_0a", "user"] {
            assert!(validate_schema(good).is_ok(), "{good}");
        }
        for bad in ["", "Agentry", "1a", "a-b", "a\"b", "pg_temp", "information_schema", &"a".repeat(64)] {
            assert!(validate_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn migrations_are_ordered() {
        let versions: Vec<i64> = migrations().iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    }
}
