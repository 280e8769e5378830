//! Whether an event came on a subject its publisher may use. An agent may publish only under its
//! own name (`agentry.<ns>.events.<agent>.<kind>`: NATS permissions see to it), and `session`
//! events are the operator's, on `agentry.<ns>.events.session`; so an event whose payload names
//! another namespace, agent or kind than its subject, or a `session` event on an agent's subject,
//! is forged and is not stored.

use agentry_protocol::events::{Event, EventBody};

/// Why an event is refused: its payload disagrees with its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Forged {
    /// The payload's `agent` is not the subject's agent token.
    #[error("the payload's agent is not the subject's")]
    AgentMismatch,
    /// The payload's `namespace` is not the subject's namespace token.
    #[error("the payload's namespace is not the subject's")]
    NamespaceMismatch,
    /// The payload's `type` is not the subject's kind token (or a `session` event came on an
    /// agent's subject).
    #[error("the payload's type is not the subject's kind")]
    KindMismatch,
    /// The subject is not an event subject of the scheme.
    #[error("not an event subject")]
    UnexpectedSubject,
}

impl Forged {
    /// The `reason` label of `agentry_recorder_events_rejected_total`.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::AgentMismatch => "agent_mismatch",
            Self::NamespaceMismatch => "namespace_mismatch",
            Self::KindMismatch => "kind_mismatch",
            Self::UnexpectedSubject => "unexpected_subject",
        }
    }

    /// Every reason, for metrics that should show zeros.
    pub(crate) const ALL: [Self; 4] =
        [Self::AgentMismatch, Self::NamespaceMismatch, Self::KindMismatch, Self::UnexpectedSubject];
}

/// Checks `event` against the `subject` it was published on. Anything before the `agentry`
/// token is a prefix a stream may put in front of the scheme (tests' streams do).
pub(crate) fn check(subject: &str, event: &Event) -> Result<(), Forged> {
    let tokens: Vec<&str> = subject.split('.').collect();
    let start = (0..tokens.len())
        .find(|&i| tokens[i] == "agentry" && tokens.get(i + 2) == Some(&"events"))
        .ok_or(Forged::UnexpectedSubject)?;
    let namespace = tokens[start + 1];
    let (agent, kind) = match &tokens[start + 3..] {
        ["session"] => (None, "session"),
        [agent, kind] => (Some(*agent), *kind),
        _ => return Err(Forged::UnexpectedSubject),
    };
    if namespace != event.namespace {
        return Err(Forged::NamespaceMismatch);
    }
    if agent.is_some_and(|agent| agent != event.agent) {
        return Err(Forged::AgentMismatch);
    }
    let session_on_agent_subject = agent.is_some() && matches!(event.body, EventBody::Session(_));
    if kind != event.body.kind() || session_on_agent_subject {
        return Err(Forged::KindMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(namespace: &str, agent: &str, kind: &str) -> Event {
        let body = match kind {
            "session" => json!({"type": "session", "sessionType": "task", "phase": "Running"}),
            _ => json!({"type": "toolCall", "tool": "http", "arguments": {}, "ok": true, "durationMs": 3}),
        };
        let mut value = json!({"id": "e-1", "timeMs": 1, "namespace": namespace, "agent": agent,
            "requestId": "r", "sessionId": "s"});
        value.as_object_mut().expect("object").extend(body.as_object().expect("object").clone());
        serde_json::from_value(value).expect("an event")
    }

    #[test]
    fn an_event_on_its_own_subject_passes_with_or_without_a_prefix() {
        let call = event("fleet", "finance-officer", "toolCall");
        assert_eq!(check("agentry.fleet.events.finance-officer.toolCall", &call), Ok(()));
        assert_eq!(check("0a1b2c.agentry.fleet.events.finance-officer.toolCall", &call), Ok(()));
        assert_eq!(check("agentry.fleet.events.session", &event("fleet", "lead", "session")), Ok(()));
    }

    #[test]
    fn an_event_naming_another_agent_namespace_or_kind_is_forged() {
        let call = event("fleet", "finance-officer", "toolCall");
        for (subject, why) in [
            ("agentry.fleet.events.sales-agent.toolCall", Forged::AgentMismatch),
            ("agentry.other.events.finance-officer.toolCall", Forged::NamespaceMismatch),
            ("agentry.fleet.events.finance-officer.interaction", Forged::KindMismatch),
            ("agentry.fleet.events.session", Forged::KindMismatch),
            ("agentry.fleet.events.finance-officer", Forged::UnexpectedSubject),
            ("agentry.fleet.events.finance-officer.toolCall.more", Forged::UnexpectedSubject),
            ("agentry.fleet.tasks.finance-officer", Forged::UnexpectedSubject),
        ] {
            assert_eq!(check(subject, &call), Err(why), "{subject}");
        }
        let session = event("fleet", "lead", "session");
        assert_eq!(check("agentry.fleet.events.lead.session", &session), Err(Forged::KindMismatch));
    }
}
