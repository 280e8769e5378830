//! Serving the agent on NATS: the query subjects in the agent's queue group, notifications, and
//! a graceful drain on shutdown. The caller of each query is the last token of its subject (NATS
//! permissions let only that identity publish there): an agent outside `allowedAgents` is
//! refused `forbidden`, as is a request whose `from` names someone else. On shutdown, while
//! work admitted before it is in progress the query subscription stays, and each new query is
//! answered `shutting_down` at once (the caller tries another replica) instead of finding no
//! responder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentry_process::ReadinessGate;
use agentry_protocol::subjects::{self, Caller, SubjectToken};
use agentry_protocol::{
    AgentReply, AgentRequest, ErrorCode, Notification, PROTOCOL_VERSION, echoable_request_id, headers,
    request_id_problem,
};
use async_nats::{HeaderMap, HeaderValue, Message, Subscriber};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument;

use crate::agent_loop::{AgentLoop, Inbound};
use crate::event_publisher::now_ms;
use crate::metrics::RunnerMetrics;
use crate::slots::{Slot, Slots};

/// Why serving stopped short.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Subscribing to a subject failed.
    #[error("subscribing on NATS: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// Flushing to the server failed.
    #[error("flushing to NATS: {0}")]
    Flush(#[from] async_nats::client::FlushError),
}

/// What serving needs besides the NATS connection.
pub struct Service {
    /// The agent's namespace.
    pub namespace: SubjectToken,
    /// The agent's name.
    pub agent: SubjectToken,
    /// Answers requests.
    pub agent_loop: Arc<AgentLoop>,
    /// Metrics.
    pub metrics: Arc<RunnerMetrics>,
    /// The replica's slots (`maxConcurrentRequests`), shared by queries and task runs.
    pub slots: Arc<Slots>,
    /// End-to-end time for one request.
    pub request_timeout: Duration,
    /// The agents this one may message (the only `peer` label values for notifications).
    pub peers: Vec<String>,
    /// The agents that may ask or notify this one; `None`: every agent.
    pub allowed_agents: Option<Vec<String>>,
    /// Longest delegation path accepted on an incoming request.
    pub max_delegation_depth: u32,
    /// How long in-flight requests get to finish after shutdown begins.
    pub grace: Duration,
    /// Largest request payload taken (`limits.maxRequestBytes`); larger ones get `too_large`.
    pub max_request_bytes: usize,
    /// Payload bytes of the requests being worked on (`limits.maxInFlightBytes`): a request
    /// whose bytes do not fit is answered `busy`, so a flood of large requests cannot grow the
    /// replica's memory past a bound.
    pub in_flight_bytes: Arc<Semaphore>,
    /// Opened once subscribed, closed when draining. Readiness also needs the NATS connection
    /// (its own gate): on reconnecting the client resubscribes by itself, so this stays open.
    pub serving: ReadinessGate,
}

impl Service {
    /// Subscribes, serves until `shutdown` completes, then drains: new queries are answered
    /// `shutting_down`, and work in flight (queries and task runs) gets up to the grace period;
    /// then it unsubscribes.
    pub async fn run(
        self,
        client: async_nats::Client,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let query_subject = subjects::query_wildcard(&self.namespace, &self.agent);
        let mut queries = client
            .queue_subscribe(query_subject.clone(), subjects::queue_group(&self.namespace, &self.agent))
            .await?;
        let mut notifications =
            client.subscribe(subjects::notify_wildcard(&self.namespace, &self.agent)).await?;
        let mut broadcasts = client.subscribe(subjects::broadcast(&self.namespace)).await?;
        // Readiness means the server has our subscriptions, not merely that we sent them.
        client.flush().await?;
        self.serving.open();
        tracing::info!(subject = %query_subject, "serving");

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                message = queries.next() => match message {
                    Some(message) => self.accept(&client, message),
                    None => break,
                },
                Some(message) = notifications.next() => self.notified(&message, true),
                Some(message) = broadcasts.next() => self.notified(&message, false),
            }
        }
        self.serving.close();
        tracing::info!("shutting down: new queries are answered shutting_down while work in flight ends");
        self.drain(&client, &mut queries).await;
        unsubscribe(&mut queries).await;
        unsubscribe(&mut notifications).await;
        unsubscribe(&mut broadcasts).await;
        client.flush().await?;
        Ok(())
    }

    /// Answers every new query `shutting_down` until all slots are free again (the work in
    /// flight has ended) or the grace period is over.
    async fn drain(&self, client: &async_nats::Client, queries: &mut Subscriber) {
        let idle = tokio::time::timeout(self.grace, self.slots.all());
        tokio::pin!(idle);
        let mut open = true;
        loop {
            tokio::select! {
                finished = &mut idle => {
                    if finished.is_err() {
                        tracing::warn!(grace_seconds = self.grace.as_secs(), "work in flight outlived the grace period");
                    }
                    return;
                }
                message = queries.next(), if open => match message {
                    Some(message) => self.refuse_draining(client, message),
                    None => open = false,
                },
            }
        }
    }

    fn refuse_draining(&self, client: &async_nats::Client, message: Message) {
        let message_text = format!("{} replica is shutting down; retry: another replica answers", self.agent);
        self.refuse(client, &message, ErrorCode::ShuttingDown, message_text);
    }

    /// Answers `message` at once with `code`, echoing its id only when it is a valid one (read
    /// from the header, or from a payload of acceptable size).
    fn refuse(&self, client: &async_nats::Client, message: &Message, code: ErrorCode, text: String) {
        let Some(reply_to) = message.reply.clone() else { return };
        let request_id = refusal_id(message, self.max_request_bytes);
        let reply = AgentReply::failure(request_id, code, text);
        self.metrics.requests.with_label_values(&[code.as_str()]).inc();
        let client = client.clone();
        tokio::spawn(async move { send_reply(&client, reply_to, &reply).await });
    }

    /// Takes one query: answered on a task of its own, or at once with `busy` at the limit.
    fn accept(&self, client: &async_nats::Client, message: Message) {
        let Some(reply_to) = message.reply.clone() else {
            tracing::warn!("query without a reply subject ignored");
            return;
        };
        let received = Instant::now();
        let caller = match self.caller_of(&message) {
            Ok(caller) => caller,
            Err(text) => return self.refuse(client, &message, ErrorCode::Forbidden, text),
        };
        let (permit, bytes_permit) = match self.reserve(message.payload.len()) {
            Ok(permits) => permits,
            Err((code, text)) => return self.refuse(client, &message, code, text),
        };
        let client = client.clone();
        let agent_loop = self.agent_loop.clone();
        let metrics = self.metrics.clone();
        let agent = self.agent.clone();
        let timeout = self.request_timeout;
        let max_depth = self.max_delegation_depth;
        let traceparent = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::TRACEPARENT))
            .map(|v| v.as_str().to_string());
        let span = tracing::info_span!("request", request_id = tracing::field::Empty);
        tokio::spawn(
            async move {
                let _permits = (permit, bytes_permit);
                metrics.in_flight.inc();
                let reply = match admit(&message.payload, &agent, Some(&caller), received, timeout, max_depth)
                {
                    Ok(mut inbound) => {
                        inbound.traceparent = traceparent;
                        // Progress goes to the reply subject: the one subject of the caller's
                        // inbox this agent may publish to (as replies to this message).
                        inbound.stream_to = inbound.request.stream.then(|| reply_to.clone());
                        tracing::Span::current().record("request_id", inbound.request.request_id.as_str());
                        agent_loop.answer(inbound).await
                    }
                    Err(reply) => {
                        let reply = *reply;
                        let code = reply.error.as_ref().map_or("internal", |e| e.code.as_str());
                        metrics.requests.with_label_values(&[code]).inc();
                        reply
                    }
                };
                send_reply(&client, reply_to, &reply).await;
                metrics.in_flight.dec();
            }
            .instrument(span),
        );
    }

    /// A slot and room for `size` payload bytes, or the refusal: `too_large` over
    /// `maxRequestBytes`, `busy` when either is exhausted.
    fn reserve(&self, size: usize) -> Result<(Slot, OwnedSemaphorePermit), (ErrorCode, String)> {
        if size > self.max_request_bytes {
            let text = format!(
                "the request is {size} bytes, more than {}'s limit of {} (limits.maxRequestBytes)",
                self.agent, self.max_request_bytes
            );
            return Err((ErrorCode::TooLarge, text));
        }
        // At most max_request_bytes, which fits a permit count.
        let bytes = u32::try_from(size.max(1)).unwrap_or(u32::MAX);
        let bytes_permit = self.in_flight_bytes.clone().try_acquire_many_owned(bytes).ok();
        match (self.slots.try_take(), bytes_permit) {
            (Some(permit), Some(bytes_permit)) => Ok((permit, bytes_permit)),
            _ => Err((
                ErrorCode::Busy,
                format!(
                    "{} is at its limit of {} concurrent requests or of request bytes in flight; retry later",
                    self.agent,
                    self.slots.total()
                ),
            )),
        }
    }

    /// The caller a query or notification's subject names, or why it may not reach this agent.
    fn caller_of(&self, message: &Message) -> Result<Caller, String> {
        let caller = Caller::of_subject(message.subject.as_str(), &self.namespace, &self.agent)
            .map_err(|err| format!("the caller could not be identified: {err}"))?;
        let refused = match (&caller, &self.allowed_agents) {
            (Caller::Agent(name), Some(allowed)) => !allowed.iter().any(|a| a == name.as_str()),
            _ => false,
        };
        if refused {
            tracing::warn!(caller = %caller, "message from an agent outside allowedAgents refused");
            return Err(format!(
                "agent {caller} may not call {}: it is not among its allowedAgents",
                self.agent
            ));
        }
        Ok(caller)
    }

    /// A notification (`direct`: on this agent's notify subject) or a broadcast; a notification
    /// from a caller that may not reach this agent is dropped.
    fn notified(&self, message: &Message, direct: bool) {
        let caller = if direct {
            match self.caller_of(message) {
                Ok(caller) => Some(caller),
                Err(reason) => return tracing::warn!(%reason, "notification dropped"),
            }
        } else {
            None
        };
        match serde_json::from_slice::<Notification>(&message.payload) {
            Ok(notification) => {
                // The subject names the sender (`from` is whatever it wrote): only peers get a
                // series of their own.
                let peer = match caller.as_ref().and_then(Caller::agent_name) {
                    Some(name) if self.peers.iter().any(|p| p == name) => name,
                    _ => "_other",
                };
                self.metrics.agent_messages.with_label_values(&[peer, "received"]).inc();
                tracing::info!(topic = %notification.topic, caller = ?caller.map(|c| c.to_string()), from = ?notification.from, "notification");
            }
            Err(err) => {
                tracing::warn!(subject = %message.subject, error = %err, "unreadable notification ignored")
            }
        }
    }
}

/// Reads and checks a request, working out its deadline; a refusal is the error reply to send.
/// `caller` is who sent it, from its subject (`None` for a task, which only platform identities
/// may publish).
pub(crate) fn admit(
    payload: &[u8],
    agent: &SubjectToken,
    caller: Option<&Caller>,
    received: Instant,
    timeout: Duration,
    max_depth: u32,
) -> Result<Inbound, Box<AgentReply>> {
    let mut request: AgentRequest = serde_json::from_slice(payload).map_err(|err| {
        // serde quotes the offending value, which can be as long as the payload.
        let problem = excerpt(&err.to_string(), MAX_PROBLEM_CHARS);
        AgentReply::failure(
            echoable_request_id(&request_id_of(payload)),
            ErrorCode::BadRequest,
            format!("malformed request: {problem}"),
        )
    })?;
    if let Some(problem) = request_id_problem(&request.request_id) {
        return Err(Box::new(AgentReply::failure("", ErrorCode::BadRequest, problem)));
    }
    if request.version != PROTOCOL_VERSION {
        return Err(Box::new(AgentReply::failure(
            &request.request_id,
            ErrorCode::BadRequest,
            format!("unsupported protocol version {}; this agent speaks {PROTOCOL_VERSION}", request.version),
        )));
    }
    if let Some(problem) = request.conversation_problem() {
        return Err(Box::new(AgentReply::failure(&request.request_id, ErrorCode::BadRequest, problem)));
    }
    if let Some(caller) = caller {
        vouch(&mut request, caller)?;
    }
    if request.delegation_path.iter().any(|a| a == agent.as_str()) {
        let mut path = request.delegation_path.clone();
        path.push(agent.to_string());
        return Err(Box::new(AgentReply::failure(
            &request.request_id,
            ErrorCode::DelegationCycle,
            format!("delegation cycle refused: {}", path_excerpt(&path)),
        )));
    }
    let depth = u32::try_from(request.delegation_path.len()).unwrap_or(u32::MAX);
    if depth > max_depth {
        return Err(Box::new(AgentReply::failure(
            &request.request_id,
            ErrorCode::DelegationDepth,
            format!(
                "delegation depth {depth} ({}) exceeds this agent's maxDelegationDepth {max_depth}",
                path_excerpt(&request.delegation_path)
            ),
        )));
    }
    let mut deadline = received + timeout;
    if let Some(deadline_ms) = request.deadline_ms {
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms()));
        if left.is_zero() {
            return Err(Box::new(AgentReply::failure(
                &request.request_id,
                ErrorCode::Timeout,
                "the request's deadline had passed when it arrived",
            )));
        }
        deadline = deadline.min(received + left);
    }
    Ok(Inbound { request, deadline, received, traceparent: None, stream_to: None })
}

/// Holds the request to the caller its subject names. An agent's `from` must be its own name
/// (it is set when absent), and the agent ends the delegation path (it is added when the path
/// does not end with it), so the cycle and depth checks count the caller NATS vouches for. A
/// platform caller's `from` names whom it speaks for (a user), and is kept as written.
fn vouch(request: &mut AgentRequest, caller: &Caller) -> Result<(), Box<AgentReply>> {
    let Some(name) = caller.agent_name() else { return Ok(()) };
    match request.from.as_deref() {
        Some(from) if from != name => {
            let text = format!(
                "the request says it is from {:?} but was sent by agent {name} (its subject's caller token)",
                excerpt(from, MAX_NAME_CHARS)
            );
            tracing::warn!(caller = name, "request whose from disagrees with its subject refused");
            return Err(Box::new(AgentReply::failure(&request.request_id, ErrorCode::Forbidden, text)));
        }
        Some(_) => {}
        None => request.from = Some(name.to_string()),
    }
    if request.delegation_path.last().map(String::as_str) != Some(name) {
        request.delegation_path.push(name.to_string());
    }
    Ok(())
}

/// Characters of a parse error quoted back to the caller.
const MAX_PROBLEM_CHARS: usize = 300;
/// Agents of a delegation path named at each end of a refusal; the middle is counted.
const PATH_ENDS: usize = 4;
/// Characters of one agent name in a refusal (Kubernetes names have at most 63).
const MAX_NAME_CHARS: usize = 63;

/// `text` cut to `max` characters, marked when cut.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// A delegation path for a refusal: a bounded number of bounded names, however long the path
/// the caller wrote.
pub(crate) fn path_excerpt(path: &[String]) -> String {
    let name = |a: &String| excerpt(a, MAX_NAME_CHARS);
    if path.len() <= 2 * PATH_ENDS {
        return path.iter().map(name).collect::<Vec<_>>().join(" → ");
    }
    let head: Vec<String> = path[..PATH_ENDS].iter().map(name).collect();
    let tail: Vec<String> = path[path.len() - PATH_ENDS..].iter().map(name).collect();
    let skipped = path.len() - 2 * PATH_ENDS;
    format!("{} → … {skipped} more … → {}", head.join(" → "), tail.join(" → "))
}

/// The id a refusal sent before reading the request echoes: the header's, else the payload's
/// when the payload is of acceptable size; only a valid one.
fn refusal_id(message: &Message, max_request_bytes: usize) -> String {
    let header = message.headers.as_ref().and_then(|h| h.get(headers::REQUEST_ID)).map(|v| v.as_str());
    match header {
        Some(id) => echoable_request_id(id).to_string(),
        None if message.payload.len() <= max_request_bytes => {
            echoable_request_id(&request_id_of(&message.payload)).to_string()
        }
        None => String::new(),
    }
}

/// The `requestId` of a payload that did not parse as a request, when it has one.
pub(crate) fn request_id_of(payload: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("requestId").and_then(|id| id.as_str()).map(str::to_string))
        .unwrap_or_default()
}

async fn send_reply(client: &async_nats::Client, reply_to: async_nats::Subject, reply: &AgentReply) {
    let mut payload = match serde_json::to_vec(reply) {
        Ok(payload) => payload,
        Err(err) => {
            tracing::error!(error = %err, "reply does not serialize");
            return;
        }
    };
    // The agent loop already turns an oversized answer into `too_large`; this catches any other
    // reply NATS would refuse, so the caller never waits for one that is never sent.
    let limit = reply_limit(client);
    if payload.len() > limit {
        tracing::warn!(request_id = %reply.request_id, bytes = payload.len(), limit, "reply too large for NATS");
        let error = too_large_reply(&reply.request_id, payload.len(), limit);
        payload = serde_json::to_vec(&error).unwrap_or_default();
    }
    let mut header_map = HeaderMap::new();
    // An id a header cannot hold (a refused one) is still in the body.
    if let Ok(value) = reply.request_id.parse::<HeaderValue>() {
        header_map.insert(headers::REQUEST_ID, value);
    }
    if let Err(err) = client.publish_with_headers(reply_to, header_map, payload.into()).await {
        tracing::warn!(request_id = %reply.request_id, error = %err, "reply not sent");
    }
}

/// Reply bytes NATS carries: the server's max payload less room for the headers.
pub(crate) fn reply_limit(client: &async_nats::Client) -> usize {
    client.max_payload().saturating_sub(REPLY_HEADER_ROOM)
}

/// Bytes kept free in a reply for its headers (the request id is at most 256 bytes).
const REPLY_HEADER_ROOM: usize = 1024;

/// The error reply standing in for an answer of `size` bytes that NATS cannot carry.
pub(crate) fn too_large_reply(request_id: &str, size: usize, limit: usize) -> AgentReply {
    AgentReply::failure(
        request_id,
        ErrorCode::TooLarge,
        format!("the answer is {size} bytes, more than NATS carries in one reply ({limit} bytes)"),
    )
}

async fn unsubscribe(subscriber: &mut Subscriber) {
    if let Err(err) = subscriber.unsubscribe().await {
        tracing::debug!(error = %err, "unsubscribe failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> SubjectToken {
        SubjectToken::new("finance-officer").expect("token")
    }

    #[test]
    fn malformed_json_is_a_bad_request_naming_the_problem() {
        let reply = admit(b"{not json", &agent(), None, Instant::now(), Duration::from_secs(5), 3)
            .expect_err("refused");
        let error = reply.error.expect("error");
        assert_eq!(error.code, ErrorCode::BadRequest);
        assert!(error.message.contains("malformed request"), "{}", error.message);
    }

    #[test]
    fn a_missing_input_is_named_and_the_id_kept() {
        let reply =
            admit(br#"{"requestId":"r-9"}"#, &agent(), None, Instant::now(), Duration::from_secs(5), 3)
                .expect_err("refused");
        assert_eq!(reply.request_id, "r-9");
        assert!(reply.error.expect("error").message.contains("input"));
    }

    #[test]
    fn a_path_through_this_agent_is_a_cycle() {
        let body = br#"{"requestId":"r","input":"x","delegationPath":["fleet-manager","finance-officer","sales-agent"]}"#;
        let reply =
            admit(body, &agent(), None, Instant::now(), Duration::from_secs(5), 3).expect_err("refused");
        assert_eq!(reply.error.expect("error").code, ErrorCode::DelegationCycle);
    }

    #[test]
    fn the_earlier_of_the_two_deadlines_wins() {
        let now = Instant::now();
        let body = format!(r#"{{"requestId":"r","input":"x","deadlineMs":{}}}"#, now_ms() + 1_000);
        let inbound =
            admit(body.as_bytes(), &agent(), None, now, Duration::from_secs(60), 3).expect("admitted");
        assert!(inbound.deadline <= now + Duration::from_millis(1_000));
        let past = format!(r#"{{"requestId":"r","input":"x","deadlineMs":{}}}"#, now_ms() - 1);
        let reply =
            admit(past.as_bytes(), &agent(), None, now, Duration::from_secs(60), 3).expect_err("expired");
        assert_eq!(reply.error.expect("error").code, ErrorCode::Timeout);
        let wrong_version = br#"{"version":2,"requestId":"r","input":"x"}"#;
        let reply =
            admit(wrong_version, &agent(), None, now, Duration::from_secs(5), 3).expect_err("version 2");
        assert_eq!(
            reply.error.map(|e| e.message).as_deref(),
            Some("unsupported protocol version 2; this agent speaks 1")
        );
    }

    #[test]
    fn refusals_quote_a_bounded_part_of_what_they_refuse() {
        let path: Vec<String> = (0..100_000).map(|i| format!("agent-{i}")).collect();
        let body =
            serde_json::to_vec(&serde_json::json!({"requestId": "r", "input": "x", "delegationPath": path}))
                .expect("json");
        let reply =
            admit(&body, &agent(), None, Instant::now(), Duration::from_secs(5), 3).expect_err("refused");
        let message = reply.error.expect("error").message;
        assert!(message.len() < 400, "{} bytes: {message}", message.len());
        assert!(message.contains("agent-0 → agent-1") && message.contains("99992 more"), "{message}");
        let long_name = vec!["x".repeat(10_000), "finance-officer".into()];
        let body = serde_json::to_vec(
            &serde_json::json!({"requestId": "r", "input": "x", "delegationPath": long_name}),
        )
        .expect("json");
        let message = admit(&body, &agent(), None, Instant::now(), Duration::from_secs(5), 3)
            .expect_err("cycle")
            .error
            .expect("error")
            .message;
        assert!(message.len() < 300, "{message}");
        let wrong_type = format!(r#"{{"requestId":"r","input":5,"from":"{}"}}"#, "y".repeat(100_000));
        let reply = admit(wrong_type.as_bytes(), &agent(), None, Instant::now(), Duration::from_secs(5), 3)
            .expect_err("malformed");
        assert!(reply.error.expect("error").message.len() < 400);
        let long_id = format!(r#"{{"requestId":"{}","input":5}}"#, "z".repeat(100_000));
        let reply = admit(long_id.as_bytes(), &agent(), None, Instant::now(), Duration::from_secs(5), 3)
            .expect_err("malformed");
        assert_eq!(reply.request_id, "", "an invalid id is not echoed");
    }

    #[test]
    fn an_agent_caller_is_held_to_its_subject() {
        let caller = Caller::agent("sales-agent").expect("caller");
        let admit_from =
            |body: &[u8]| admit(body, &agent(), Some(&caller), Instant::now(), Duration::from_secs(5), 3);
        let lying =
            admit_from(br#"{"requestId":"r","input":"x","from":"fleet-manager"}"#).expect_err("refused");
        let error = lying.error.expect("error");
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert!(
            error.message.contains(r#"says it is from "fleet-manager" but was sent by agent sales-agent"#)
        );
        let silent = admit_from(br#"{"requestId":"r","input":"x"}"#).expect("admitted");
        assert_eq!(silent.request.from.as_deref(), Some("sales-agent"), "from is set to the caller");
        assert_eq!(silent.request.delegation_path, ["sales-agent"], "the caller ends the path");
        let path = admit_from(br#"{"requestId":"r","input":"x","delegationPath":["a","sales-agent"]}"#)
            .expect("admitted");
        assert_eq!(path.request.delegation_path, ["a", "sales-agent"], "not added twice");
        // A path that leaves the caller out still counts it: one hop deeper than it says.
        let deep = admit(
            br#"{"requestId":"r","input":"x","delegationPath":["a","b","c"]}"#,
            &agent(),
            Some(&caller),
            Instant::now(),
            Duration::from_secs(5),
            3,
        )
        .expect_err("too deep");
        assert_eq!(deep.error.expect("error").code, ErrorCode::DelegationDepth);
        let user = br#"{"requestId":"r","input":"x","from":"alice"}"#;
        let platform = Caller::Platform(agentry_protocol::PlatformIdentity::Api);
        let admitted =
            admit(user, &agent(), Some(&platform), Instant::now(), Duration::from_secs(5), 3).expect("ok");
        assert_eq!(admitted.request.from.as_deref(), Some("alice"), "a platform caller speaks for a user");
        assert!(admitted.request.delegation_path.is_empty());
    }

    #[test]
    fn a_path_longer_than_the_depth_limit_is_refused() {
        let body = br#"{"requestId":"r","input":"x","delegationPath":["a","b"]}"#;
        let reply =
            admit(body, &agent(), None, Instant::now(), Duration::from_secs(5), 1).expect_err("refused");
        assert_eq!(reply.error.expect("error").code, ErrorCode::DelegationDepth);
        assert!(admit(body, &agent(), None, Instant::now(), Duration::from_secs(5), 2).is_ok());
    }
}
