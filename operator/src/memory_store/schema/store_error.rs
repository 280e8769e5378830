//! Why talking to a MemoryStore's PostgreSQL failed, in words safe to show anyone.

use sqlx::migrate::MigrateError;

use super::connection_uri::{ConnectionTarget, Redactor};

/// A failure reaching, logging in to, migrating or querying a MemoryStore's database.
///
/// Every message is built from parts free of secrets (user, host, port, database, schema and
/// PostgreSQL's own error text with the password scrubbed out), never from the connection URI, so
/// it can go into status conditions, Events and logs as is. No variant keeps the `sqlx::Error` it
/// came from for the same reason: configuration errors may quote the URI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The connection URI cannot be used.
    #[error("the connection URI is not valid: {detail}")]
    InvalidConnectionUri {
        /// What is wrong with it.
        detail: String,
    },
    /// No PostgreSQL answered: connection refused, timeout, unknown host, server starting.
    #[error("cannot reach PostgreSQL at {target}: {detail}")]
    Unreachable {
        /// Where the connection went.
        target: String,
        /// What happened.
        detail: String,
    },
    /// PostgreSQL refused the login (SQLSTATE 28P01 or 28000).
    #[error("PostgreSQL at {target} refused the login: {detail}")]
    AuthenticationFailed {
        /// Where the connection went.
        target: String,
        /// PostgreSQL's message.
        detail: String,
    },
    /// The database named in the URI does not exist (SQLSTATE 3D000).
    #[error("PostgreSQL at {target} has no database \"{database}\"")]
    DatabaseNotFound {
        /// Where the connection went.
        target: String,
        /// The missing database.
        database: String,
    },
    /// The role may not do what was asked (SQLSTATE 42501).
    #[error("PostgreSQL at {target} denied permission: {detail}")]
    PermissionDenied {
        /// Where the connection went.
        target: String,
        /// PostgreSQL's message.
        detail: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with PostgreSQL at {target} failed: {detail}")]
    TlsFailed {
        /// Where the connection went.
        target: String,
        /// What happened.
        detail: String,
    },
    /// The schema name is not one the memory tables can live in.
    #[error(
        "schema name \"{name}\" is not valid: it must match ^[a-z_][a-z0-9_]{{0,62}}$ and not be a \
         system schema (pg_*, information_schema)"
    )]
    InvalidSchemaName {
        /// The refused name.
        name: String,
    },
    /// The memory migrations could not be applied.
    #[error("migrating schema {schema} on {target} failed: {detail}")]
    MigrationFailed {
        /// The schema being migrated.
        schema: String,
        /// Where the connection went.
        target: String,
        /// What happened.
        detail: String,
    },
    /// A query failed for a reason none of the above covers.
    #[error("query on PostgreSQL at {target} failed: {detail}")]
    QueryFailed {
        /// Where the connection went.
        target: String,
        /// What happened.
        detail: String,
    },
}

impl StoreError {
    /// The CamelCase reason for a `Ready=False` condition and a Warning Event.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidConnectionUri { .. } => "InvalidConnectionUri",
            Self::Unreachable { .. } => "Unreachable",
            Self::AuthenticationFailed { .. } => "AuthenticationFailed",
            Self::DatabaseNotFound { .. } => "DatabaseNotFound",
            Self::PermissionDenied { .. } => "PermissionDenied",
            Self::TlsFailed { .. } => "TlsFailed",
            Self::InvalidSchemaName { .. } => "InvalidSchemaName",
            Self::MigrationFailed { .. } => "MigrationFailed",
            Self::QueryFailed { .. } => "QueryFailed",
        }
    }

    /// What a person can do about it, as one sentence to follow the message.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::InvalidConnectionUri { .. } => {
                "the Secret must hold a URI like postgres://user:password@host:5432/database"
            }
            Self::Unreachable { .. } => {
                "check the host and port in the Secret's URI and that PostgreSQL is running and \
                 accepts connections from the operator (network policies, firewalls)"
            }
            Self::AuthenticationFailed { .. } => {
                "check the user and password in the Secret's URI and that the role exists and may log in"
            }
            Self::DatabaseNotFound { .. } => "create the database, or fix its name in the Secret's URI",
            Self::PermissionDenied { .. } => {
                "grant the role CREATE on the database, or create the schema beforehand owned by the role"
            }
            Self::TlsFailed { .. } => {
                "check the server's certificate and the sslmode/sslrootcert parameters of the URI"
            }
            Self::InvalidSchemaName { .. } => "choose another spec.postgres.schema",
            Self::MigrationFailed { .. } => {
                "the memory tables in this schema need attention from a database administrator"
            }
            Self::QueryFailed { .. } => "the operator retries; see the PostgreSQL server log",
        }
    }

    /// Whether the failure is about the connection itself rather than what was done over it, so
    /// a cached pool is better dropped and the next attempt starts from a fresh, fully
    /// classified connection.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::AuthenticationFailed { .. }
                | Self::DatabaseNotFound { .. }
                | Self::TlsFailed { .. }
                | Self::InvalidConnectionUri { .. }
        )
    }
}

/// Sorts a sqlx error into a [`StoreError`], with every text scrubbed of the URI's secrets.
pub(crate) fn classify(error: &sqlx::Error, target: &ConnectionTarget, redactor: &Redactor) -> StoreError {
    let target_text = target.to_string();
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let detail = redactor.scrub(db.message());
            match code.as_str() {
                // invalid_password, invalid_authorization_specification (unknown role, no
                // pg_hba.conf entry, role may not log in)
                "28P01" | "28000" => StoreError::AuthenticationFailed { target: target_text, detail },
                "3D000" => {
                    StoreError::DatabaseNotFound { target: target_text, database: target.database.clone() }
                }
                "42501" => StoreError::PermissionDenied { target: target_text, detail },
                // too_many_connections, cannot_connect_now (starting up or shutting down)
                "53300" | "57P03" => StoreError::Unreachable { target: target_text, detail },
                _ => StoreError::QueryFailed { target: target_text, detail: with_code(detail, &code) },
            }
        }
        // A refused certificate reaches sqlx as an I/O error carrying rustls's error: it is a
        // TLS failure, which checking the host and port would not fix.
        sqlx::Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            StoreError::TlsFailed { target: target_text, detail: redactor.scrub(&io.to_string()) }
        }
        sqlx::Error::Io(io) => {
            StoreError::Unreachable { target: target_text, detail: redactor.scrub(&io.to_string()) }
        }
        sqlx::Error::PoolTimedOut => StoreError::Unreachable {
            target: target_text,
            detail: "no connection could be opened within the timeout".to_string(),
        },
        sqlx::Error::Protocol(message) => StoreError::Unreachable {
            target: target_text,
            detail: format!(
                "the server does not speak the PostgreSQL protocol ({})",
                redactor.scrub(message)
            ),
        },
        sqlx::Error::Tls(source) => {
            StoreError::TlsFailed { target: target_text, detail: redactor.scrub(&source.to_string()) }
        }
        sqlx::Error::Configuration(source) => {
            StoreError::InvalidConnectionUri { detail: redactor.scrub(&source.to_string()) }
        }
        other => StoreError::QueryFailed { target: target_text, detail: redactor.scrub(&other.to_string()) },
    }
}

/// Sorts a migration failure: trouble with the connection or permissions keeps its own kind,
/// everything else is a [`StoreError::MigrationFailed`] saying which migration and why.
pub(crate) fn classify_migration(
    error: &MigrateError,
    schema: &str,
    target: &ConnectionTarget,
    redactor: &Redactor,
) -> StoreError {
    let failed = |detail: String| StoreError::MigrationFailed {
        schema: schema.to_string(),
        target: target.to_string(),
        detail,
    };
    match error {
        MigrateError::Execute(inner) => match classify(inner, target, redactor) {
            StoreError::QueryFailed { detail, .. } => failed(detail),
            other => other,
        },
        MigrateError::ExecuteMigration(inner, version) => match classify(inner, target, redactor) {
            StoreError::QueryFailed { detail, .. } => failed(format!("migration {version}: {detail}")),
            other => other,
        },
        MigrateError::VersionMissing(version) => failed(format!(
            "the schema has migration {version} applied, which this operator does not know: a newer \
             operator migrated it; run that version or a newer one"
        )),
        MigrateError::VersionMismatch(version) => failed(format!(
            "migration {version} applied to the schema differs from this operator's: the schema was \
             migrated by an incompatible build"
        )),
        MigrateError::Dirty(version) => failed(format!(
            "migration {version} failed partway earlier; repair the schema and delete its row from \
             _sqlx_migrations"
        )),
        other => failed(redactor.scrub(&other.to_string())),
    }
}

fn with_code(detail: String, code: &str) -> String {
    if code.is_empty() { detail } else { format!("{detail} (SQLSTATE {code})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ConnectionTarget {
        ConnectionTarget { user: "agentry".into(), host: "db".into(), port: 5432, database: "fleet".into() }
    }

    #[test]
    fn io_errors_are_unreachable_and_scrubbed() {
        let redactor = Redactor::for_uri("postgres://agentry:hunter2@db/fleet");
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused hunter2");
        let error = classify(&sqlx::Error::Io(io), &target(), &redactor);
        assert_eq!(error.reason(), "Unreachable");
        let text = error.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("agentry@db:5432/fleet"), "{text}");
    }

    #[test]
    fn a_refused_certificate_is_a_tls_failure() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        let error = classify(&sqlx::Error::Io(io), &target(), &Redactor::default());
        assert_eq!(error.reason(), "TlsFailed");
        assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    }

    #[test]
    fn configuration_errors_are_invalid_uris_and_scrubbed() {
        let uri = "postgres://agentry:hunter2@db:notaport/fleet";
        let redactor = Redactor::for_uri(uri);
        let error = classify(&sqlx::Error::Configuration(format!("bad {uri}").into()), &target(), &redactor);
        assert_eq!(error.reason(), "InvalidConnectionUri");
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn pool_timeout_is_unreachable() {
        let error = classify(&sqlx::Error::PoolTimedOut, &target(), &Redactor::default());
        assert_eq!(error.reason(), "Unreachable");
        assert!(error.is_connection_failure());
    }

    #[test]
    fn schema_history_problems_are_migration_failures() {
        for error in
            [MigrateError::VersionMissing(3), MigrateError::VersionMismatch(1), MigrateError::Dirty(2)]
        {
            let classified = classify_migration(&error, "agentry", &target(), &Redactor::default());
            assert_eq!(classified.reason(), "MigrationFailed");
            assert!(!classified.is_connection_failure());
        }
    }

    #[test]
    fn every_reason_is_a_condition_reason() {
        let errors = [
            StoreError::InvalidConnectionUri { detail: String::new() },
            StoreError::Unreachable { target: String::new(), detail: String::new() },
            StoreError::AuthenticationFailed { target: String::new(), detail: String::new() },
            StoreError::DatabaseNotFound { target: String::new(), database: String::new() },
            StoreError::PermissionDenied { target: String::new(), detail: String::new() },
            StoreError::TlsFailed { target: String::new(), detail: String::new() },
            StoreError::InvalidSchemaName { name: String::new() },
            StoreError::MigrationFailed {
                schema: String::new(),
                target: String::new(),
                detail: String::new(),
            },
            StoreError::QueryFailed { target: String::new(), detail: String::new() },
        ];
        for error in errors {
            let reason = error.reason();
            assert!(reason.chars().all(|c| c.is_ascii_alphanumeric()), "{reason}");
            assert!(reason.starts_with(|c: char| c.is_ascii_uppercase()), "{reason}");
            assert!(!error.hint().is_empty());
        }
    }
}
