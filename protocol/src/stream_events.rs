//! Progress of a request as it happens, published (for a request with `stream: true`) to the
//! request's own reply subject, each message marked with the
//! [`STREAM_EVENT`](crate::headers::STREAM_EVENT) header: model text as it arrives, finished tool
//! and model calls. Best-effort; the reply (the one message without that header) is the answer.

use serde::{Deserialize, Serialize};

/// Stream events an agent publishes for one request at most. Each is a response to the
/// request's message, and an agent's NATS permissions allow a bounded number of responses (`resp`
/// max), which must exceed this so that the reply always gets through; events beyond it are
/// dropped (the gap in `seq` shows it).
pub const MAX_STREAM_EVENTS: u64 = 10_000;

/// One event of a streamed request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamEvent {
    /// The request's id.
    pub request_id: String,
    /// 0 for the first event of a request, then one more per event: a gap is a lost event.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub body: StreamEventBody,
}

/// What a [`StreamEvent`] reports; `type` on the wire.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum StreamEventBody {
    /// Text the model produced, as it arrived.
    Token {
        /// The new text.
        text: String,
    },
    /// A tool call finished.
    ToolCall {
        /// The Tool's name.
        name: String,
        /// Whether it returned a result.
        ok: bool,
        /// How long it took.
        duration_ms: u64,
    },
    /// A call to one model of the chain finished (retries included).
    ModelCall {
        /// The Model object's name.
        model: String,
        /// Whether it answered.
        ok: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_flat_with_a_type() {
        let token = StreamEvent {
            request_id: "r".into(),
            seq: 0,
            body: StreamEventBody::Token { text: "Hel".into() },
        };
        assert_eq!(
            serde_json::to_value(&token).expect("serializes"),
            serde_json::json!({"requestId": "r", "seq": 0, "type": "token", "text": "Hel"})
        );
        let tool = StreamEvent {
            request_id: "r".into(),
            seq: 1,
            body: StreamEventBody::ToolCall { name: "calculator".into(), ok: true, duration_ms: 3 },
        };
        let json = serde_json::to_value(&tool).expect("serializes");
        assert_eq!(json["type"], "toolCall");
        assert_eq!(json["durationMs"], 3);
        let parsed: StreamEvent =
            serde_json::from_str(r#"{"requestId":"r","seq":2,"type":"modelCall","model":"m","ok":false}"#)
                .expect("parses");
        assert_eq!(parsed.body, StreamEventBody::ModelCall { model: "m".into(), ok: false });
    }
}
