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

/// The subject `caller` asks agent `target` on (request-reply): the last token names the caller,
/// and NATS permissions let only that identity publish there, so the answering runner knows who
/// asks.
pub fn query(namespace: &SubjectToken, target: &SubjectToken, caller: &Caller) -> String {
    format!("agentry.{namespace}.agent.{target}.query.{}", caller.token())
}

/// The subject an agent's runners subscribe to for queries, whoever asks.
pub fn query_wildcard(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("agentry.{namespace}.agent.{agent}.query.*")
}

/// An agent's query subject without its caller token (the Agent's `status.subject`): a caller
/// appends `.` and its own token ([`query`]).
pub fn query_root(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("agentry.{namespace}.agent.{agent}.query")
}

/// The subject `caller` sends fire-and-forget notifications to agent `target` on.
pub fn notify(namespace: &SubjectToken, target: &SubjectToken, caller: &Caller) -> String {
    format!("agentry.{namespace}.agent.{target}.notify.{}", caller.token())
}

/// The subject an agent's runners subscribe to for notifications, whoever sends them.
pub fn notify_wildcard(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("agentry.{namespace}.agent.{agent}.notify.*")
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

/// The inbox prefix of agent `agent` (`_INBOX.<ns>.<agent>`): its replies and streams arrive
/// below it, and it may subscribe nowhere else under `_INBOX`.
pub fn agent_inbox_prefix(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("_INBOX.{namespace}.{agent}")
}

/// A platform process's identity on the bus. Its token starts with `_`, which no Kubernetes name
/// holds, so it can never collide with an agent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformIdentity {
    /// The HTTP API (`_api`).
    Api,
    /// The operator (`_operator`).
    Operator,
    /// The recorder (`_recorder`).
    Recorder,
}

impl PlatformIdentity {
    /// Every platform identity.
    pub const ALL: [Self; 3] = [Self::Api, Self::Operator, Self::Recorder];

    /// Its subject token: `_api`, `_operator`, `_recorder`.
    pub fn token(self) -> &'static str {
        match self {
            Self::Api => "_api",
            Self::Operator => "_operator",
            Self::Recorder => "_recorder",
        }
    }

    /// Its inbox prefix (`_INBOX.<token>`, e.g. `_INBOX._api`).
    pub fn inbox_prefix(self) -> String {
        format!("_INBOX.{}", self.token())
    }
}

/// Who sent a query or notification, as the last token of its subject says.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Caller {
    /// An agent of the namespace, by name.
    Agent(SubjectToken),
    /// A platform process.
    Platform(PlatformIdentity),
}

/// Longest agent name: a DNS label.
const MAX_AGENT_NAME_LEN: usize = 63;

/// Why a subject token, or a received subject, names no caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    /// The token starts with `_` but is no platform identity.
    #[error("{token:?} is no platform identity (those are _api, _operator and _recorder)")]
    UnknownPlatform {
        /// The refused token.
        token: String,
    },
    /// The token is not an agent name (an RFC 1123 DNS label).
    #[error("{token:?} is not an agent name: {reason}")]
    NotAnAgentName {
        /// The refused token (cut to 80 characters).
        token: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The subject is not one of this agent's query or notify subjects.
    #[error("{subject:?} is not a query or notify subject of {expected} followed by a caller token")]
    NotThisAgentsSubject {
        /// The subject received (cut to 200 characters).
        subject: String,
        /// The subject root expected (`agentry.<ns>.agent.<agent>`).
        expected: String,
    },
}

impl Caller {
    /// The agent `name`, which must be a DNS label.
    pub fn agent(name: &str) -> Result<Self, CallerError> {
        let refuse = |reason| CallerError::NotAnAgentName { token: cut(name, 80), reason };
        if name.is_empty() {
            return Err(refuse("it is empty"));
        }
        if name.len() > MAX_AGENT_NAME_LEN {
            return Err(refuse("it is longer than 63 characters"));
        }
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(refuse("only a-z, 0-9 and - are allowed"));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(refuse("it must start and end with a letter or digit"));
        }
        let token = SubjectToken::new(name).map_err(|_| refuse("it cannot be a subject token"))?;
        Ok(Self::Agent(token))
    }

    /// The caller a subject token names: a platform identity (`_…`) or an agent's name.
    pub fn parse(token: &str) -> Result<Self, CallerError> {
        if token.starts_with('_') {
            return PlatformIdentity::ALL
                .into_iter()
                .find(|p| p.token() == token)
                .map(Self::Platform)
                .ok_or_else(|| CallerError::UnknownPlatform { token: cut(token, 80) });
        }
        Self::agent(token)
    }

    /// The caller of a message received on `subject`, one of agent `agent`'s query or notify
    /// subjects ([`query_wildcard`], [`notify_wildcard`]).
    pub fn of_subject(
        subject: &str,
        namespace: &SubjectToken,
        agent: &SubjectToken,
    ) -> Result<Self, CallerError> {
        let root = format!("agentry.{namespace}.agent.{agent}");
        let token = subject
            .strip_prefix(root.as_str())
            .and_then(|rest| rest.strip_prefix(".query.").or_else(|| rest.strip_prefix(".notify.")))
            .filter(|token| !token.contains('.'))
            .ok_or_else(|| CallerError::NotThisAgentsSubject {
                subject: cut(subject, 200),
                expected: root,
            })?;
        Self::parse(token)
    }

    /// Its subject token.
    pub fn token(&self) -> &str {
        match self {
            Self::Agent(name) => name.as_str(),
            Self::Platform(platform) => platform.token(),
        }
    }

    /// The agent's name, when the caller is an agent.
    pub fn agent_name(&self) -> Option<&str> {
        match self {
            Self::Agent(name) => Some(name.as_str()),
            Self::Platform(_) => None,
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// `text` cut to `max` characters, for errors quoting what they refuse.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
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
        let caller = Caller::agent("fleet-manager").expect("agent");
        assert_eq!(query(&ns, &agent, &caller), "agentry.fleet.agent.finance-officer.query.fleet-manager");
        assert_eq!(query_wildcard(&ns, &agent), "agentry.fleet.agent.finance-officer.query.*");
        assert_eq!(query_root(&ns, &agent), "agentry.fleet.agent.finance-officer.query");
        let api = Caller::Platform(PlatformIdentity::Api);
        assert_eq!(notify(&ns, &agent, &api), "agentry.fleet.agent.finance-officer.notify._api");
        assert_eq!(notify_wildcard(&ns, &agent), "agentry.fleet.agent.finance-officer.notify.*");
        assert_eq!(agent_inbox_prefix(&ns, &agent), "_INBOX.fleet.finance-officer");
        assert_eq!(PlatformIdentity::Operator.inbox_prefix(), "_INBOX._operator");
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

    #[test]
    fn callers_are_read_from_the_subject_they_came_on() {
        let (ns, agent) = (token("fleet"), token("finance-officer"));
        let of = |subject: &str| Caller::of_subject(subject, &ns, &agent);
        assert_eq!(
            of("agentry.fleet.agent.finance-officer.query.fleet-manager"),
            Ok(Caller::Agent(token("fleet-manager")))
        );
        assert_eq!(
            of("agentry.fleet.agent.finance-officer.notify._recorder"),
            Ok(Caller::Platform(PlatformIdentity::Recorder))
        );
        for platform in PlatformIdentity::ALL {
            assert_eq!(Caller::parse(platform.token()), Ok(Caller::Platform(platform)));
        }
        for wrong in [
            "agentry.fleet.agent.finance-officer.query",
            "agentry.fleet.agent.finance-officer.query.a.b",
            "agentry.other.agent.finance-officer.query.a",
            "agentry.fleet.agent.finance-officerx.query.a",
            "agentry.fleet.agent.finance-officer.tasks.a",
        ] {
            let err = of(wrong).expect_err(wrong);
            assert!(err.to_string().contains("agentry.fleet.agent.finance-officer"), "{err}");
        }
    }

    #[test]
    fn caller_tokens_are_agent_names_or_known_platform_identities() {
        let unknown = Caller::parse("_admin").expect_err("unknown platform");
        assert_eq!(
            unknown.to_string(),
            r#""_admin" is no platform identity (those are _api, _operator and _recorder)"#
        );
        for (bad, why) in [
            ("", "empty"),
            ("Fleet", "a-z, 0-9 and -"),
            ("a_b", "a-z, 0-9 and -"),
            ("-a", "start and end"),
            ("a-", "start and end"),
            (&"a".repeat(64), "63"),
        ] {
            let err = Caller::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
        }
        assert_eq!(Caller::parse("a-1").map(|c| c.to_string()), Ok("a-1".to_string()));
        let long = Caller::parse(&"A".repeat(10_000)).expect_err("long");
        assert!(long.to_string().len() < 200, "{long}");
    }
}
