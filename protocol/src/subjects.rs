//! The NATS subject scheme (DESIGN.md §5), as functions.
//!
//! Namespace and agent names become single subject tokens, so a [`SubjectToken`] refuses the
//! characters NATS gives meaning to (`.`, `*`, `>`) and whitespace.

use std::fmt;

/// JetStream stream holding Session tasks (work queue, one durable consumer per agent).
pub const TASKS_STREAM: &str = "AGENTRY_TASKS";
/// JetStream stream holding every event the runners publish.
pub const EVENTS_STREAM: &str = "AGENTRY_EVENTS";
/// Subjects captured by [`TASKS_STREAM`], across namespaces.
pub const TASKS_STREAM_SUBJECTS: &str = "agentry.*.tasks.>";
/// Subjects captured by [`EVENTS_STREAM`], across namespaces.
pub const EVENTS_STREAM_SUBJECTS: &str = "agentry.*.events.>";

/// A string fit to be one token of a subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectToken(String);

/// Why a string cannot be a subject token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// The string is empty.
    #[error("a subject token must not be empty")]
    Empty,
    /// The string holds a character NATS reserves.
    #[error("{token:?} cannot be a NATS subject token: it contains {found:?}")]
    Reserved {
        /// The refused string.
        token: String,
        /// The first reserved character found.
        found: char,
    },
}

impl SubjectToken {
    /// Checks `token` holds none of `.`, `*`, `>` or whitespace.
    pub fn new(token: impl Into<String>) -> Result<Self, InvalidToken> {
        let token = token.into();
        if token.is_empty() {
            return Err(InvalidToken::Empty);
        }
        if let Some(found) = token.chars().find(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace()) {
            return Err(InvalidToken::Reserved { token, found });
        }
        Ok(Self(token))
    }

    /// The token as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Request-reply subject an agent answers queries on.
pub fn query(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("agentry.{namespace}.agent.{agent}.query")
}

/// Fire-and-forget subject for notifications to an agent.
pub fn notify(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("agentry.{namespace}.agent.{agent}.notify")
}

/// Queue group the replicas of one agent share, so each query is answered once.
pub fn queue_group(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("{namespace}.{agent}")
}

/// Subject every agent of a namespace hears.
pub fn broadcast(namespace: &SubjectToken) -> String {
    format!("agentry.{namespace}.broadcast")
}

/// JetStream subject of an agent's durable task queue.
pub fn tasks(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("agentry.{namespace}.tasks.{agent}")
}

/// JetStream subject an agent's events are published on; `kind` is the event's kind.
pub fn events(namespace: &SubjectToken, agent: &SubjectToken, kind: &str) -> String {
    format!("agentry.{namespace}.events.{agent}.{kind}")
}

/// JetStream subject the operator publishes declared Sessions' lifecycle events on (in the
/// events stream; four tokens, so it never collides with an agent's five-token subjects).
pub fn session_events(namespace: &SubjectToken) -> String {
    format!("agentry.{namespace}.events.session")
}

/// Wildcard matching every event of a namespace.
pub fn events_wildcard(namespace: &SubjectToken) -> String {
    format!("agentry.{namespace}.events.>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> SubjectToken {
        SubjectToken::new(s).expect("valid token")
    }

    #[test]
    fn subjects_follow_the_design() {
        let (ns, agent) = (token("fleet"), token("finance-officer"));
        assert_eq!(query(&ns, &agent), "agentry.fleet.agent.finance-officer.query");
        assert_eq!(notify(&ns, &agent), "agentry.fleet.agent.finance-officer.notify");
        assert_eq!(queue_group(&ns, &agent), "fleet.finance-officer");
        assert_eq!(broadcast(&ns), "agentry.fleet.broadcast");
        assert_eq!(tasks(&ns, &agent), "agentry.fleet.tasks.finance-officer");
        assert_eq!(events(&ns, &agent, "interaction"), "agentry.fleet.events.finance-officer.interaction");
        assert_eq!(events_wildcard(&ns), "agentry.fleet.events.>");
        assert_eq!(session_events(&ns), "agentry.fleet.events.session");
    }

    #[test]
    fn reserved_characters_are_refused() {
        for bad in ["a.b", "a*", ">", "a b", "a\tb"] {
            let err = SubjectToken::new(bad).expect_err(bad);
            assert!(err.to_string().contains("cannot be a NATS subject token"), "{err}");
        }
        assert_eq!(SubjectToken::new(""), Err(InvalidToken::Empty));
    }
}
