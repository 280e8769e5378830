//! `POST …/agents/{name}/invoke/stream`: the run as Server-Sent Events — model tokens as the
//! provider streams them, tool and model calls as they finish — ending with the reply or the
//! error. The agent publishes progress on the request's reply subject (an inbox of the API's),
//! ahead of the reply.

use std::convert::Infallible;

use agentry_api_contract::invoke::{InvokeRequest, StreamItem};
use agentry_api_contract::paths;
use agentry_protocol::{StreamEvent, StreamEventBody};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::agent_call;
use crate::agent_directory;
use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::query_bounds::object_name;
use crate::routes::failures::Failures;
use crate::routes::invoke::invocation;

/// Items buffered between the agent and a slow reader; beyond it tokens wait in NATS.
const BUFFERED_ITEMS: usize = 256;

/// Asks the agent and streams its run. Needs `create agents/invoke`.
#[utoipa::path(post, path = paths::AGENT_INVOKE_STREAM, tag = "agents",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    request_body = InvokeRequest,
    responses((status = 200, description = "Server-Sent Events: `event:` is the item's type, `data:` the item; \
        the last is `reply` or `error`", content_type = "text/event-stream", body = StreamItem), Failures))]
pub(crate) async fn invoke_stream(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    BoundedJson(body): BoundedJson<InvokeRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    object_name("namespace", &ns)?;
    object_name("name", &name)?;
    let invocation = invocation(&caller, body)?;
    state.access_reviews.require(&caller, Access::new("create", "agents/invoke", &ns)).await?;
    let span = tracing::info_span!("invoke_stream", namespace = %ns, agent = %name, request_id = %invocation.request.request_id);
    let (items, received) = mpsc::channel(BUFFERED_ITEMS);
    let run = async move {
        let (progress_sender, progress) = mpsc::channel(BUFFERED_ITEMS);
        let answer = async move {
            let request = invocation.request;
            let asked = agent_call::ask_streaming(
                &state.nats,
                &ns,
                &name,
                request,
                invocation.timeout,
                &progress_sender,
            );
            match asked.await {
                Ok(response) => Ok(response),
                Err(failure) => Err(agent_directory::unanswered(&state, &ns, &name, failure).await),
            }
        };
        relay(progress, answer, items).await;
    };
    tokio::spawn(run.instrument(span));
    let events = futures::stream::unfold(received, |mut received| async move {
        let item: StreamItem = received.recv().await?;
        Some((Ok(sse_event(&item)), received))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Forwards progress until the answer is in, then whatever progress already arrived, then the
/// answer itself; stops early when the reader has gone.
async fn relay(
    mut progress: mpsc::Receiver<StreamEvent>,
    answer: impl std::future::Future<Output = Result<agentry_api_contract::invoke::InvokeResponse, ApiError>>,
    items: mpsc::Sender<StreamItem>,
) {
    let mut answer = std::pin::pin!(answer);
    let outcome = loop {
        tokio::select! {
            outcome = &mut answer => break outcome,
            Some(event) = progress.recv() => {
                if items.send(progress_item(event)).await.is_err() {
                    return;
                }
            }
        }
    };
    // Progress received before the reply may still sit in the channel.
    while let Ok(event) = progress.try_recv() {
        if items.send(progress_item(event)).await.is_err() {
            return;
        }
    }
    let last = match outcome {
        Ok(response) => StreamItem::Reply(response),
        Err(err) => StreamItem::Error(err.body()),
    };
    let _ = items.send(last).await;
}

/// The SSE item a progress event becomes.
fn progress_item(event: StreamEvent) -> StreamItem {
    match event.body {
        StreamEventBody::Token { text } => StreamItem::Token { text },
        StreamEventBody::ToolCall { name, ok, duration_ms } => StreamItem::ToolCall { name, ok, duration_ms },
        StreamEventBody::ModelCall { model, ok } => StreamItem::ModelCall { model, ok },
    }
}

fn sse_event(item: &StreamItem) -> Event {
    let event = Event::default().event(item.event_name());
    match serde_json::to_string(item) {
        Ok(json) => event.data(json),
        Err(err) => event
            .data(format!("{{\"type\":\"error\",\"code\":\"internal\",\"message\":{:?}}}", err.to_string())),
    }
}
