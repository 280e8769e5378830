//! What every handler shares: the clients of the cluster, NATS and PostgreSQL, and the caches of
//! authentication and authorization answers.

use std::sync::Arc;
use std::time::Duration;

use agentry_api_contract::ApiErrorCode;
use agentry_task_queue::TaskQueue;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::OnceCell;

use crate::api_error::ApiError;
use crate::authentication::TokenReviews;
use crate::authorization::AccessReviews;
use crate::memory_access::OpenStores;

/// How the API reaches its history.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// PostgreSQL holding the recorder's history; without it the history endpoints answer 503.
    /// A secret: never logged.
    pub database_url: Option<String>,
    /// The PostgreSQL schema the recorder writes (its `--schema`).
    pub database_schema: String,
}

impl ApiSettings {
    /// The recorder's default schema.
    pub const DEFAULT_SCHEMA: &'static str = "agentry";
}

/// Why the API's state could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiSetupError {
    /// The database URL does not parse.
    #[error("the database URL is not a valid PostgreSQL URL (postgres://user:password@host:port/database)")]
    DatabaseUrl,
    /// The schema is not a plain identifier.
    #[error("the database schema {0:?} is not a lower-case PostgreSQL identifier of at most 63 bytes")]
    Schema(String),
}

/// The state every handler reads.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) kube: kube::Client,
    pub(crate) nats: async_nats::Client,
    pub(crate) database: Option<PgPool>,
    tasks: Arc<OnceCell<TaskQueue>>,
    pub(crate) token_reviews: TokenReviews,
    pub(crate) access_reviews: AccessReviews,
    /// Agents' memory stores, opened on first use.
    pub(crate) memory_stores: OpenStores,
}

impl ApiState {
    /// The state for `settings`. Nothing is dialled yet: PostgreSQL and JetStream are reached on
    /// first use, so the API serves what it can while one of them is down.
    pub fn new(
        kube: kube::Client,
        nats: async_nats::Client,
        settings: &ApiSettings,
    ) -> Result<Self, ApiSetupError> {
        let database = match &settings.database_url {
            Some(url) => {
                let schema = &settings.database_schema;
                let plain = schema.len() <= 63
                    && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !plain {
                    return Err(ApiSetupError::Schema(schema.clone()));
                }
                // The URL's own text is never put in an error: it may hold a password.
                let options = url
                    .parse::<PgConnectOptions>()
                    .map_err(|_| ApiSetupError::DatabaseUrl)?
                    .options([("search_path", settings.database_schema.as_str())])
                    .application_name("agentry-api");
                Some(
                    PgPoolOptions::new()
                        .max_connections(8)
                        .acquire_timeout(Duration::from_secs(5))
                        .connect_lazy_with(options),
                )
            }
            None => None,
        };
        Ok(Self {
            token_reviews: TokenReviews::new(kube.clone()),
            access_reviews: AccessReviews::new(kube.clone()),
            kube,
            nats,
            database,
            tasks: Arc::new(OnceCell::new()),
            memory_stores: OpenStores::default(),
        })
    }

    /// The history database, or 503 when the API was started without one.
    pub(crate) fn database(&self) -> Result<&PgPool, ApiError> {
        self.database.as_ref().ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::Unavailable,
                "this API has no history database configured (the operator's --database-url)",
            )
        })
    }

    /// The task queue, opened on first use.
    pub(crate) async fn tasks(&self) -> Result<&TaskQueue, ApiError> {
        self.tasks
            .get_or_try_init(|| TaskQueue::open(async_nats::jetstream::new(self.nats.clone())))
            .await
            .map_err(|e| ApiError::unavailable("the task queue (NATS JetStream)", &e))
    }
}
