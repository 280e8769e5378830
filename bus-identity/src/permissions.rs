//! The subjects each identity may publish and subscribe to (the bus contract, docs/security.md):
//! what the server enforces for every connection, from the identity's user JWT.

use std::time::Duration;

use agentry_protocol::subjects::{self, Caller, EVENTS_STREAM, SubjectToken, TASKS_STREAM};
use agentry_protocol::{daily_usage, tasks};
use serde::Serialize;

/// Allowed and denied subjects for one direction. An entry may be `subject queue` (subscribe
/// only): that queue group alone on that subject.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SubjectRules {
    /// Subjects (wildcards allowed) permitted; empty means none is listed (so all, unless
    /// `deny` says otherwise: NATS treats a missing allow list as "everything").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Subjects refused even when allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// Replies an identity may publish to subjects it was not granted: one per request received,
/// within `max` messages and `ttl` of the request (NATS response permissions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseRule {
    /// Messages allowed per reply subject (streamed replies send several).
    pub max_messages: u32,
    /// How long after the request the reply subject stays open.
    pub ttl: Duration,
}

/// One identity's permissions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// What it may publish.
    pub publish: SubjectRules,
    /// What it may subscribe to.
    pub subscribe: SubjectRules,
    /// Replies it may send to the requests it receives.
    pub response: Option<ResponseRule>,
}

/// Messages a streamed reply may take: the chunks of a long answer, its stream events and the
/// final reply.
pub const DEFAULT_RESPONSE_MESSAGES: u32 = 100_000;

/// The inbox prefix of an agent (the protocol's, re-exported for the connection builders).
pub use agentry_protocol::subjects::agent_inbox_prefix;

/// The inbox prefix of a platform identity (`_api` gives `_INBOX._api`).
pub fn platform_inbox_prefix(identity: &str) -> String {
    format!("_INBOX.{identity}")
}

/// What an Agent may do on the bus: call its `peers`, answer its own queries, publish its own
/// events, work its own tasks; replies to requests it received may stay open `reply_ttl`.
pub fn agent(
    namespace: &SubjectToken,
    agent: &SubjectToken,
    peers: &[SubjectToken],
    reply_ttl: Duration,
) -> Permissions {
    // Callers are checked by the server: an agent may publish only on subjects ending in its own
    // name, so a runner can trust the caller token of what it receives.
    let caller = Caller::Agent(agent.clone());
    let mut publish = Vec::new();
    for peer in peers {
        publish.push(subjects::query(namespace, peer, &caller));
        publish.push(subjects::notify(namespace, peer, &caller));
    }
    publish.push(format!("agentry.{namespace}.events.{agent}.>"));
    publish.extend(agent_jetstream(namespace, agent));
    let subscribe = vec![
        format!("{} {}", subjects::query_wildcard(namespace, agent), subjects::queue_group(namespace, agent)),
        subjects::notify_wildcard(namespace, agent),
        subjects::broadcast(namespace),
        format!("{}.>", agent_inbox_prefix(namespace, agent)),
    ];
    Permissions {
        publish: SubjectRules { allow: publish, deny: Vec::new() },
        subscribe: SubjectRules { allow: subscribe, deny: Vec::new() },
        response: Some(ResponseRule { max_messages: DEFAULT_RESPONSE_MESSAGES, ttl: reply_ttl }),
    }
}

/// The JetStream API subjects an agent's runner uses: its own tasks consumer (bind, pull, ack),
/// its own task records and daily usage in their buckets, and stream lookups. Streams and
/// consumers are created by the platform; runners only bind.
fn agent_jetstream(namespace: &SubjectToken, agent: &SubjectToken) -> Vec<String> {
    let consumer = tasks::consumer_name(namespace, agent);
    let task_bucket = tasks::TASK_STATE_BUCKET;
    let usage_bucket = daily_usage::DAILY_USAGE_BUCKET;
    let own = format!("{namespace}.{agent}");
    vec![
        "$JS.API.INFO".to_string(),
        format!("$JS.API.STREAM.INFO.{TASKS_STREAM}"),
        format!("$JS.API.STREAM.INFO.{EVENTS_STREAM}"),
        format!("$JS.API.CONSUMER.INFO.{TASKS_STREAM}.{consumer}"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{TASKS_STREAM}.{consumer}"),
        format!("$JS.ACK.{TASKS_STREAM}.{consumer}.>"),
        format!("$JS.API.STREAM.INFO.KV_{task_bucket}"),
        format!("$JS.API.DIRECT.GET.KV_{task_bucket}.$KV.{task_bucket}.{own}.>"),
        format!("$KV.{task_bucket}.{own}.>"),
        format!("$JS.API.STREAM.INFO.KV_{usage_bucket}"),
        format!("$JS.API.DIRECT.GET.KV_{usage_bucket}.$KV.{usage_bucket}.{own}.>"),
        format!("$KV.{usage_bucket}.{own}.>"),
    ]
}

/// What a platform identity (`_operator`, `_api`; `_recorder` gets [`recorder`]'s) may do: ask and notify any agent
/// under its own name, broadcast, submit tasks, publish Session events, run JetStream (streams,
/// consumers, buckets), and hear its own inbox and the key-value updates it waits on. It cannot
/// answer as an agent, publish an agent's events, or read another identity's inbox.
pub fn platform(identity: &str) -> Permissions {
    if identity == "_recorder" {
        return recorder();
    }
    let publish = vec![
        format!("agentry.*.agent.*.query.{identity}"),
        format!("agentry.*.agent.*.notify.{identity}"),
        "agentry.*.broadcast".to_string(),
        "agentry.*.tasks.>".to_string(),
        "agentry.*.events.session".to_string(),
        "$JS.API.>".to_string(),
        "$JS.ACK.>".to_string(),
        "$JS.FC.>".to_string(),
        "$KV.>".to_string(),
    ];
    let subscribe = vec![format!("{}.>", platform_inbox_prefix(identity)), "$KV.>".to_string()];
    Permissions {
        publish: SubjectRules { allow: publish, deny: Vec::new() },
        subscribe: SubjectRules { allow: subscribe, deny: Vec::new() },
        response: None,
    }
}

/// What the recorder may do: keep the events stream and its own durable consumer on it, pull
/// and acknowledge events, hear its own inbox. Nothing else: it asks no agent, submits no task
/// and touches no other stream, so a stolen recorder credential cannot speak for anyone.
fn recorder() -> Permissions {
    let events = EVENTS_STREAM;
    let publish = vec![
        "$JS.API.INFO".to_string(),
        format!("$JS.API.STREAM.INFO.{events}"),
        format!("$JS.API.STREAM.CREATE.{events}"),
        format!("$JS.API.STREAM.UPDATE.{events}"),
        format!("$JS.API.CONSUMER.*.{events}.>"),
        format!("$JS.API.CONSUMER.DURABLE.CREATE.{events}.>"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{events}.>"),
        format!("$JS.ACK.{events}.>"),
    ];
    let subscribe = vec![format!("{}.>", platform_inbox_prefix("_recorder"))];
    Permissions {
        publish: SubjectRules { allow: publish, deny: Vec::new() },
        subscribe: SubjectRules { allow: subscribe, deny: Vec::new() },
        response: None,
    }
}

/// Checks `identity` is a platform identity name: `_` then lowercase letters, digits or `-`.
pub fn is_platform_identity(identity: &str) -> bool {
    identity.strip_prefix('_').is_some_and(|rest| {
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_recorder_may_keep_only_the_events_stream_and_its_consumer() {
        let p = platform("_recorder");
        assert!(p.publish.allow.iter().all(|s| s.starts_with("$JS.")), "{:?}", p.publish.allow);
        assert!(
            p.publish
                .allow
                .iter()
                .filter(|s| s.starts_with("$JS.API.S") || s.starts_with("$JS.API.C"))
                .all(|s| s.contains(EVENTS_STREAM))
        );
        assert_eq!(p.subscribe.allow, ["_INBOX._recorder.>"]);
        assert!(platform("_api").publish.allow.contains(&"agentry.*.agent.*.query._api".to_string()));
    }

    use super::*;

    fn token(s: &str) -> SubjectToken {
        SubjectToken::new(s).unwrap()
    }

    #[test]
    fn an_agent_publishes_only_to_its_peers_under_its_own_name() {
        let p = agent(&token("fleet"), &token("a"), &[token("b")], Duration::from_secs(60));
        assert!(p.publish.allow.contains(&"agentry.fleet.agent.b.query.a".to_string()));
        assert!(p.publish.allow.contains(&"agentry.fleet.events.a.>".to_string()));
        assert!(!p.publish.allow.iter().any(|s| s.starts_with("_INBOX") || s.contains(".query.*")));
        assert!(p.subscribe.allow.contains(&"agentry.fleet.agent.a.query.* fleet.a".to_string()));
        assert!(p.subscribe.allow.contains(&"_INBOX.fleet.a.>".to_string()));
        assert_eq!(p.response.map(|r| r.ttl), Some(Duration::from_secs(60)));
    }

    #[test]
    fn platform_identities_start_with_an_underscore() {
        assert!(is_platform_identity("_api"));
        assert!(!is_platform_identity("api"));
        assert!(!is_platform_identity("_"));
        assert!(!is_platform_identity("_a.b"));
        assert!(platform("_api").subscribe.allow.contains(&"_INBOX._api.>".to_string()));
    }
}
