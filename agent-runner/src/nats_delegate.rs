//! [`NatsDelegate`]: the runner's [`Delegate`] for `agent` tools, asking another agent over NATS
//! request-reply and refusing cycles and over-deep chains before sending.

use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::subjects::{self, SubjectToken};
use agentry_protocol::{AgentReply, AgentRequest, ErrorCode, headers};
use async_nats::HeaderMap;
use tokio::time::Instant;

use crate::event_publisher::now_ms;
use crate::metrics::RunnerMetrics;
use crate::tools::{CallContext, Delegate, DelegationError};

/// Delegates to peers of one agent over NATS request-reply.
pub struct NatsDelegate {
    client: async_nats::Client,
    namespace: SubjectToken,
    agent: String,
    max_depth: u32,
    metrics: Arc<RunnerMetrics>,
}

impl NatsDelegate {
    /// A delegate speaking for `agent` in `namespace`.
    pub fn new(
        client: async_nats::Client,
        namespace: SubjectToken,
        agent: String,
        max_depth: u32,
        metrics: Arc<RunnerMetrics>,
    ) -> Self {
        Self { client, namespace, agent, max_depth, metrics }
    }

    async fn send(&self, peer: &str, input: String, ctx: &CallContext) -> Result<String, DelegationError> {
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
        let request_id = format!("{}.{}", ctx.request_id, uuid::Uuid::new_v4().simple());
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
        header_map.insert(headers::REQUEST_ID, request_id.as_str());
        header_map.insert(headers::DELEGATION_DEPTH, depth.to_string().as_str());
        if let Some(traceparent) = &ctx.traceparent {
            header_map.insert(headers::TRACEPARENT, traceparent.as_str());
        }
        self.metrics.agent_messages.with_label_values(&[peer, "sent"]).inc();
        let message = self
            .client
            .send_request(
                subjects::query(&self.namespace, &peer_token),
                async_nats::Request::new()
                    .payload(payload.into())
                    .headers(header_map)
                    .timeout(Some(remaining.max(Duration::from_millis(1)))),
            )
            .await
            .map_err(|err| match err.kind() {
                async_nats::RequestErrorKind::TimedOut => DelegationError::Timeout,
                async_nats::RequestErrorKind::NoResponders => {
                    DelegationError::Unreachable(format!("no runner of agent {peer} is answering"))
                }
                _ => DelegationError::Unreachable(err.to_string()),
            })?;
        self.metrics.agent_messages.with_label_values(&[peer, "received"]).inc();
        let reply: AgentReply =
            serde_json::from_slice(&message.payload).map_err(|err| DelegationError::PeerError {
                code: ErrorCode::Internal.as_str().to_string(),
                message: format!("unreadable reply: {err}"),
            })?;
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
