//! What wakes a Session: a change of one of its tasks' records (a key-value watch of the
//! `AGENTRY_TASK_STATE` bucket, so an ended task is seen at once rather than polled), and the
//! creation of an Agent a pending Session waits for.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Agent, Session};
use async_nats::jetstream::kv;
use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::runtime::context::OperatorContext;
use crate::session::plan::{self, task_prefix};
use crate::session::status::is_finished;

/// First and longest pause before watching the bucket again after the watch failed.
const REWATCH: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// The Sessions in `namespace` that task `task` belongs to (`ses-<uid>` or `ses-<uid>-<step>`).
pub fn sessions_for_task(sessions: &[Arc<Session>], namespace: &str, task: &str) -> Vec<ObjectRef<Session>> {
    if !task.starts_with("ses-") {
        return Vec::new();
    }
    sessions
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(namespace))
        .filter(|s| {
            let Some(uid) = s.metadata.uid.as_deref() else { return false };
            let prefix = task_prefix(uid);
            task.strip_prefix(&prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
        .map(|s| ObjectRef::from_obj(&**s))
        .collect()
}

/// The not yet started Sessions that wait for `agent`.
pub fn sessions_for_agent(sessions: &[Arc<Session>], agent: &Agent) -> Vec<ObjectRef<Session>> {
    let (namespace, name) = (agent.namespace(), agent.name_any());
    sessions
        .iter()
        .filter(|s| s.namespace() == namespace)
        .filter(|s| s.status.as_ref().and_then(|st| st.started_at.as_ref()).is_none())
        .filter(|s| plan::agents(&s.spec).any(|a| *a == name))
        .map(|s| ObjectRef::from_obj(&**s))
        .collect()
}

/// The key of a task record, `<namespace>.<agent>.<task>`, as `(namespace, task)`.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.splitn(3, '.');
    let (namespace, _agent, task) = (parts.next()?, parts.next()?, parts.next()?);
    Some((namespace, task))
}

/// What the watch loop woke up for.
enum Woke {
    /// A record changed (or the watch failed or ended).
    Record(Option<Result<kv::Entry, kv::WatcherError>>),
    /// The NATS connection came back.
    Reconnected,
}

struct Watching {
    ctx: Arc<OperatorContext>,
    reconnects: tokio::sync::watch::Receiver<u64>,
    sessions: Store<Session>,
    watch: Option<kv::Watch>,
    pending: VecDeque<ObjectRef<Session>>,
    pause: Duration,
}

impl Watching {
    /// Queues every unfinished Session: changes made while no watch ran are not lost.
    fn catch_up(&mut self) {
        let unfinished = self
            .sessions
            .state()
            .into_iter()
            .filter(|s| !is_finished(s.status.as_ref().and_then(|st| st.phase)));
        self.pending.extend(unfinished.map(|s| ObjectRef::from_obj(&*s)));
    }
}

/// The Sessions whose task records change, for as long as the controller runs. Each time the
/// watch (re)starts, every unfinished Session is sent too: changes made while no watch ran are
/// not lost.
pub fn task_changes(
    ctx: Arc<OperatorContext>,
    sessions: Store<Session>,
) -> impl Stream<Item = ObjectRef<Session>> + Send {
    let reconnects = ctx.nats.reconnects();
    let start =
        Watching { ctx, reconnects, sessions, watch: None, pending: VecDeque::new(), pause: REWATCH.0 };
    futures::stream::unfold(start, |mut w| async move {
        loop {
            if let Some(next) = w.pending.pop_front() {
                return Some((next, w));
            }
            match w.watch.as_mut() {
                None => {
                    let nats = w.ctx.nats.ready().await?;
                    match nats.task_states.watch_all().await {
                        Ok(watch) => {
                            w.watch = Some(watch);
                            w.pause = REWATCH.0;
                            w.catch_up();
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot watch task records; retrying");
                            tokio::time::sleep(w.pause).await;
                            w.pause = (w.pause * 2).min(REWATCH.1);
                        }
                    }
                }
                Some(watch) => {
                    let woke = tokio::select! {
                        entry = watch.next() => Woke::Record(entry),
                        changed = w.reconnects.changed() => match changed {
                            Ok(()) => Woke::Reconnected,
                            Err(_) => Woke::Record(None),
                        },
                    };
                    match woke {
                        // Back after an outage: what changed meanwhile may not come through.
                        Woke::Reconnected => w.catch_up(),
                        Woke::Record(Some(Ok(entry))) => {
                            if let Some((namespace, task)) = parse_key(&entry.key) {
                                w.pending.extend(sessions_for_task(&w.sessions.state(), namespace, task));
                            }
                        }
                        Woke::Record(Some(Err(err))) => {
                            tracing::warn!(error = %err, "the task record watch failed; watching again");
                            w.watch = None;
                        }
                        Woke::Record(None) => w.watch = None,
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(ns: &str, name: &str, uid: &str, started: bool) -> Arc<Session> {
        let status = if started {
            serde_json::json!({"startedAt": "2026-01-01T00:00:00Z"})
        } else {
            serde_json::json!({})
        };
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": "Session",
                "metadata": {"name": name, "namespace": ns, "uid": uid},
                "spec": {"type": "collaboration", "agentRef": "lead", "participants": ["helper"], "input": "x"},
                "status": status
            }))
            .expect("session"),
        )
    }

    #[test]
    fn a_task_record_maps_to_its_session() {
        let sessions = vec![
            session("a", "one", "11111111-2222-3333-4444-555555555555", true),
            session("b", "other-ns", "11111111-2222-3333-4444-555555555555", true),
            session("a", "two", "11111111-2222-3333-4444-666666666666", true),
        ];
        let one = vec![ObjectRef::new("one").within("a")];
        assert_eq!(sessions_for_task(&sessions, "a", "ses-11111111-2222-3333-4444-555555555555"), one);
        assert_eq!(sessions_for_task(&sessions, "a", "ses-11111111-2222-3333-4444-555555555555-1"), one);
        assert!(sessions_for_task(&sessions, "a", "ses-11111111-2222-3333-4444-5555555555559").is_empty());
        assert!(sessions_for_task(&sessions, "a", "api-task").is_empty());
        assert_eq!(parse_key("a.planner.ses-u-1"), Some(("a", "ses-u-1")));
        assert_eq!(parse_key("a.planner"), None);
    }

    #[test]
    fn a_new_agent_wakes_the_sessions_waiting_for_it() {
        let sessions = vec![
            session("a", "waiting", "u1", false),
            session("a", "started", "u2", true),
            session("b", "elsewhere", "u3", false),
        ];
        let agent = |name: &str| -> Agent {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
                "metadata": {"name": name, "namespace": "a"},
                "spec": {"role": "worker", "modelRef": "m"}
            }))
            .expect("agent")
        };
        let waiting = vec![ObjectRef::new("waiting").within("a")];
        assert_eq!(sessions_for_agent(&sessions, &agent("helper")), waiting);
        assert_eq!(sessions_for_agent(&sessions, &agent("lead")), waiting);
        assert!(sessions_for_agent(&sessions, &agent("stranger")).is_empty());
    }
}
