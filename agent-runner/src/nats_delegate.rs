//! [`NatsDelegate`]: the runner's [`Delegate`] for `agent` tools, asking another agent over NATS
//! request-reply on the peer's query subject for this agent (its own name as the caller token),
//! and refusing agents outside its `peers`, cycles and over-deep chains before sending. A `shutting_down`
//! reply or no responder (a replica draining, or a rollout between pods) is asked again a few
//! times within the deadline: another replica answers.

use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::subjects::{self, Caller, SubjectToken};
use agentry_protocol::{AgentReply, AgentRequest, ErrorCode, MAX_REQUEST_ID_LEN, headers};
use async_nats::{HeaderMap, HeaderValue};
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

use crate::event_publisher::now_ms;
use crate::metrics::RunnerMetrics;
use crate::tools::{CallContext, Delegate, DelegationError};

/// Pauses before asking again after `shutting_down` or no responder: at once first, then
/// briefly, while the queue group moves on to another replica.
const RETRY_PAUSES: [Duration; 4] =
    [Duration::ZERO, Duration::from_millis(50), Duration::from_millis(200), Duration::from_millis(500)];

/// Delegates to peers of one agent over NATS request-reply.
pub struct NatsDelegate {
    client: async_nats::Client,
    namespace: SubjectToken,
    /// This agent, the caller token of every request it sends.
    caller: Caller,
    agent: String,
    /// The only agents it may ask.
    peers: Vec<String>,
    max_depth: u32,
    metrics: Arc<RunnerMetrics>,
}

impl NatsDelegate {
    /// A delegate speaking for `agent` in `namespace`, asking only `peers`.
    pub fn new(
        client: async_nats::Client,
        namespace: SubjectToken,
        agent: Caller,
        peers: Vec<String>,
        max_depth: u32,
        metrics: Arc<RunnerMetrics>,
    ) -> Self {
        let name = agent.to_string();
        Self { client, namespace, caller: agent, agent: name, peers, max_depth, metrics }
    }

    /// Asks `peer` inside an `agentry.delegation` span, whose trace context the request carries.
    async fn send(&self, peer: &str, input: String, ctx: &CallContext) -> Result<String, DelegationError> {
        let span = tracing::info_span!(
            "agentry.delegation",
            otel.kind = "client",
            agentry.namespace = %self.namespace,
            agentry.agent = %self.agent,
            agentry.peer = peer,
            agentry.request_id = Empty,
            agentry.outcome = Empty,
            otel.status_code = Empty,
            otel.status_message = Empty,
        );
        let result = self.send_in_span(peer, input, ctx).instrument(span.clone()).await;
        match &result {
            Ok(_) => span.record("agentry.outcome", "ok"),
            Err(err) => span
                .record("agentry.outcome", delegation_outcome(err))
                .record("otel.status_code", "ERROR")
                .record("otel.status_message", err.to_string().as_str()),
        };
        result
    }

    async fn send_in_span(
        &self,
        peer: &str,
        input: String,
        ctx: &CallContext,
    ) -> Result<String, DelegationError> {
        if !self.peers.iter().any(|p| p == peer) {
            tracing::warn!(peer, "delegation to an agent outside peers refused");
            return Err(DelegationError::NotAPeer { peer: peer.to_string() });
        }
        // The chain so far, ending with this agent; the peer would be the next hop.
        let mut path = ctx.delegation_path.clone();
        if path.iter().any(|a| a == peer) {
            path.push(peer.to_string());
            return Err(DelegationError::Cycle { path });
        }
        let depth = u32::try_from(path.len()).unwrap_or(u32::MAX);
        if depth > self.max_depth {
            return Err(DelegationError::DepthExceeded { depth, max: self.max_depth });
        }
        let peer_token =
            SubjectToken::new(peer).map_err(|err| DelegationError::Unreachable(err.to_string()))?;
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(DelegationError::Timeout);
        }
        let subject = subjects::query(&self.namespace, &peer_token, &self.caller);
        let request_id = delegated_request_id(&ctx.request_id);
        tracing::Span::current().record("agentry.request_id", request_id.as_str());
        let request = AgentRequest {
            session_id: ctx.session_id.clone(),
            from: Some(self.agent.clone()),
            context: None,
            deadline_ms: Some(now_ms() + u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX)),
            delegation_path: path,
            limits: None,
            ..AgentRequest::new(request_id.clone(), input)
        };
        let payload =
            serde_json::to_vec(&request).map_err(|err| DelegationError::Unreachable(err.to_string()))?;
        let mut header_map = HeaderMap::new();
        put_header(&mut header_map, headers::REQUEST_ID, &request_id);
        put_header(&mut header_map, headers::DELEGATION_DEPTH, &depth.to_string());
        // This span's context when spans are exported, else the caller's, passed on unchanged.
        if let Some(traceparent) =
            agentry_telemetry::current_traceparent().or_else(|| ctx.traceparent.clone())
        {
            put_header(&mut header_map, headers::TRACEPARENT, &traceparent);
        }
        let payload = bytes::Bytes::from(payload);
        let mut pauses = RETRY_PAUSES.iter();
        let reply = loop {
            let asked =
                self.ask_once(peer, &subject, payload.clone(), header_map.clone(), ctx.deadline).await;
            let another_replica_may_answer = match &asked {
                Ok(reply) => reply.error.as_ref().is_some_and(|e| e.code == ErrorCode::ShuttingDown),
                Err(AskFailure::NoResponders) => true,
                Err(AskFailure::Other(_)) => false,
            };
            match pauses.next() {
                Some(pause) if another_replica_may_answer && Instant::now() + *pause < ctx.deadline => {
                    tracing::debug!(peer, "no replica of the peer took the request; asking again");
                    tokio::time::sleep(*pause).await;
                }
                _ => break asked.map_err(|failure| failure.into_error(peer))?,
            }
        };
        match (reply.output, reply.error) {
            (_, Some(error)) => Err(DelegationError::PeerError {
                code: error.code.as_str().to_string(),
                message: error.message,
            }),
            (Some(output), None) => Ok(output),
            (None, None) => Ok(String::new()),
        }
    }
}

/// The `agentry.outcome` of a failed delegation.
fn delegation_outcome(err: &DelegationError) -> &'static str {
    match err {
        DelegationError::Cycle { .. } => "delegation_cycle",
        DelegationError::DepthExceeded { .. } => "delegation_depth",
        DelegationError::NotAPeer { .. } => "not_a_peer",
        DelegationError::PeerError { .. } => "peer_error",
        DelegationError::Unreachable(_) => "unreachable",
        DelegationError::Timeout => "timeout",
    }
}

/// The id of a delegated request: the caller's, cut to leave room, then a unique suffix, so it
/// stays within [`MAX_REQUEST_ID_LEN`] (the peer refuses a longer one).
fn delegated_request_id(parent: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let mut room = MAX_REQUEST_ID_LEN - suffix.len() - 1;
    while !parent.is_char_boundary(room.min(parent.len())) {
        room -= 1;
    }
    format!("{}.{suffix}", &parent[..room.min(parent.len())])
}

/// Sets a header when `value` can be one; a value with a line break (which the NATS client would
/// panic on) is left out, and the body still carries what matters.
fn put_header(map: &mut HeaderMap, name: &'static str, value: &str) {
    match value.parse::<HeaderValue>() {
        Ok(value) => map.insert(name, value),
        Err(_) => tracing::debug!(header = name, "header value left out: not valid in a NATS header"),
    }
}

/// Why one request to a peer got no reply.
enum AskFailure {
    /// Nobody is subscribed to the peer's subject right now.
    NoResponders,
    /// Anything else.
    Other(DelegationError),
}

impl AskFailure {
    fn into_error(self, peer: &str) -> DelegationError {
        match self {
            Self::NoResponders => {
                DelegationError::Unreachable(format!("no runner of agent {peer} is answering"))
            }
            Self::Other(err) => err,
        }
    }
}

impl NatsDelegate {
    /// One request to the peer, with what is left of the deadline as its timeout.
    async fn ask_once(
        &self,
        peer: &str,
        subject: &str,
        payload: bytes::Bytes,
        header_map: HeaderMap,
        deadline: Instant,
    ) -> Result<AgentReply, AskFailure> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AskFailure::Other(DelegationError::Timeout));
        }
        self.metrics.agent_messages.with_label_values(&[peer, "sent"]).inc();
        let request = async_nats::Request::new()
            .payload(payload)
            .headers(header_map)
            .timeout(Some(remaining.max(Duration::from_millis(1))));
        let message =
            self.client.send_request(subject.to_string(), request).await.map_err(|err| match err.kind() {
                async_nats::RequestErrorKind::TimedOut => AskFailure::Other(DelegationError::Timeout),
                async_nats::RequestErrorKind::NoResponders => AskFailure::NoResponders,
                _ => AskFailure::Other(DelegationError::Unreachable(err.to_string())),
            })?;
        self.metrics.agent_messages.with_label_values(&[peer, "received"]).inc();
        serde_json::from_slice(&message.payload).map_err(|err| {
            AskFailure::Other(DelegationError::PeerError {
                code: ErrorCode::Internal.as_str().to_string(),
                message: format!("unreadable reply: {err}"),
            })
        })
    }
}

impl Delegate for NatsDelegate {
    fn ask<'a>(
        &'a self,
        agent: &'a str,
        input: String,
        ctx: &'a CallContext,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, DelegationError>> + Send + 'a>>
    {
        Box::pin(self.send(agent, input, ctx))
    }
}

#[cfg(test)]
mod tests {
    use agentry_protocol::request_id_problem;

    use super::*;

    #[test]
    fn delegated_ids_stay_valid_whatever_the_parent_id() {
        for parent in ["r-1".to_string(), "x".repeat(MAX_REQUEST_ID_LEN), "é".repeat(128)] {
            let id = delegated_request_id(&parent);
            assert_eq!(request_id_problem(&id), None, "{id}");
            assert!(id.starts_with(&parent[..2]), "{id}");
        }
    }

    #[test]
    fn header_values_with_line_breaks_are_left_out_not_a_panic() {
        let mut map = HeaderMap::new();
        put_header(&mut map, headers::TRACEPARENT, "00-abc\r\nInjected: yes");
        put_header(&mut map, headers::REQUEST_ID, "r-1");
        assert!(map.get(headers::TRACEPARENT).is_none());
        assert_eq!(map.get(headers::REQUEST_ID).map(|v| v.as_str()), Some("r-1"));
    }
}
