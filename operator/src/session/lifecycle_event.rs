//! A declared Session's lifecycle in the recorded history: a `session` event (its type and the
//! phase it entered) on the events stream when it starts running and when it ends, which the
//! recorder folds into its `sessions` row.
//!
//! The event id is the Session's uid and phase, so publishing one twice (a retried reconcile,
//! the finished Session's next look) is stored once: JetStream drops the duplicate inside its
//! window, the recorder skips the id after it. Publishing is best effort: the Session's run never
//! waits for its history.

use std::time::Duration;

use agentry_crds::{Session, SessionPhase, SessionStatus};
use agentry_protocol::SubjectToken;
use agentry_protocol::events::{Event, EventBody, SessionEvent};
use agentry_protocol::subjects;
use async_nats::jetstream;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::runtime::nats_link::NatsHandles;
use crate::session::status::millis;

/// How long the stream gets to acknowledge an event.
const ACK_WITHIN: Duration = Duration::from_secs(5);

/// The event for `status`'s phase, when it is one the history records (Running or finished).
pub fn event(session: &Session, status: &SessionStatus) -> Option<Event> {
    let phase = status.phase?;
    let at = match phase {
        SessionPhase::Running => status.started_at.as_ref(),
        SessionPhase::Succeeded | SessionPhase::Failed | SessionPhase::Expired => {
            status.completed_at.as_ref()
        }
        SessionPhase::Pending => return None,
    };
    let uid = session.metadata.uid.clone()?;
    let name = |value: serde_json::Value| value.as_str().map(str::to_string);
    let phase_name = name(serde_json::to_value(phase).ok()?)?;
    Some(Event {
        id: format!("session-{uid}-{phase_name}"),
        time_ms: millis(at.map_or_else(Timestamp::now, |t| t.0)),
        namespace: session.namespace()?,
        agent: session.spec.agent_ref.clone(),
        request_id: uid.clone(),
        session_id: Some(uid),
        body: EventBody::Session(SessionEvent {
            session_type: name(serde_json::to_value(session.spec.type_).ok()?)?,
            phase: phase_name,
        }),
    })
}

/// Publishes the event of `status`'s phase, if any; a failure is logged, not returned.
pub async fn publish(session: &Session, status: &SessionStatus, nats: &NatsHandles) {
    let Some(event) = event(session, status) else { return };
    if let Err(error) = send(&event, nats).await {
        tracing::warn!(error = %error, phase = ?status.phase, "the Session's lifecycle event was not recorded");
    }
}

async fn send(event: &Event, nats: &NatsHandles) -> Result<(), String> {
    let namespace = SubjectToken::new(event.namespace.clone()).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let message = jetstream::message::PublishMessage::build().payload(payload.into()).message_id(&event.id);
    let js = jetstream::new(nats.client.clone());
    let ack =
        js.send_publish(subjects::session_events(&namespace), message).await.map_err(|e| e.to_string())?;
    match tokio::time::timeout(ACK_WITHIN, ack).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!("the events stream did not store it: {error}")),
        Err(_) => Err(format!("the events stream did not acknowledge it within {ACK_WITHIN:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fixtures::{UID, session};

    #[test]
    fn running_and_finished_phases_become_events_named_by_uid_and_phase() {
        let s = session(serde_json::json!({"type": "analysis"}));
        let mut status = SessionStatus { phase: Some(SessionPhase::Pending), ..Default::default() };
        assert!(event(&s, &status).is_none(), "pending is not recorded");
        status.phase = Some(SessionPhase::Running);
        let running = event(&s, &status).expect("an event");
        assert_eq!(running.id, format!("session-{UID}-Running"));
        assert_eq!(running.session_id.as_deref(), Some(UID));
        let EventBody::Session(body) = &running.body else { panic!("{running:?}") };
        assert_eq!((body.session_type.as_str(), body.phase.as_str()), ("analysis", "Running"));
        status.phase = Some(SessionPhase::Expired);
        assert_eq!(event(&s, &status).expect("an event").id, format!("session-{UID}-Expired"));
    }
}
