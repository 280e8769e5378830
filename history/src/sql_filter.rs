//! A WHERE clause built from the filters actually given, so each combination is its own
//! prepared statement and PostgreSQL plans it with the index that fits (a generic plan of
//! `$n IS NULL OR col = $n` would not).

use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;

/// A bound value.
enum Param {
    Text(String),
    Int(i64),
}

/// Conditions joined by AND, with their parameters numbered in order.
#[derive(Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    params: Vec<Param>,
}

impl Conditions {
    /// A text parameter's placeholder (`$n`).
    pub(crate) fn text(&mut self, value: impl Into<String>) -> String {
        self.params.push(Param::Text(value.into()));
        format!("${}::text", self.params.len())
    }

    /// An integer parameter's placeholder.
    pub(crate) fn int(&mut self, value: i64) -> String {
        self.params.push(Param::Int(value));
        format!("${}::int8", self.params.len())
    }

    /// Adds a condition.
    pub(crate) fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// The conditions, ANDed (`true` when there are none).
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() { "true".to_string() } else { self.clauses.join(" AND ") }
    }

    /// Binds the parameters, in order, to `query` (made from text using these placeholders).
    pub(crate) fn bind(
        self,
        mut query: Query<'_, Postgres, PgArguments>,
    ) -> Query<'_, Postgres, PgArguments> {
        for param in self.params {
            query = match param {
                Param::Text(value) => query.bind(value),
                Param::Int(value) => query.bind(value),
            };
        }
        query
    }
}
