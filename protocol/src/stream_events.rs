//! Progress of a request as it happens, published to the request's `streamTo` subject: model
//! text as it arrives, finished tool and model calls. Best-effort; the reply alone is the answer.

use serde::{Deserialize, Serialize};

/// The prefix a `streamTo` subject must have: a caller's inbox, never an agent's subject.
pub const STREAM_SUBJECT_PREFIX: &str = "_INBOX.";

/// Longest `streamTo` subject accepted, in bytes.
pub const MAX_STREAM_SUBJECT_LEN: usize = 256;

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

/// What is wrong with `subject` as a `streamTo`, if anything: it must be a subject under
/// [`STREAM_SUBJECT_PREFIX`] (so a caller cannot have the runner publish into agents' subjects)
/// of at most [`MAX_STREAM_SUBJECT_LEN`] bytes, with no empty token, wildcard or whitespace.
pub fn stream_to_problem(subject: &str) -> Option<String> {
    if !subject.starts_with(STREAM_SUBJECT_PREFIX) {
        return Some(format!("streamTo must be a subject under {STREAM_SUBJECT_PREFIX} (a caller's inbox)"));
    }
    if subject.len() > MAX_STREAM_SUBJECT_LEN {
        return Some(format!(
            "streamTo must be at most {MAX_STREAM_SUBJECT_LEN} bytes, not {}",
            subject.len()
        ));
    }
    let bad_token = subject.split('.').any(|token| token.is_empty() || token == "*" || token == ">");
    if bad_token || subject.chars().any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>') {
        return Some("streamTo must be a plain subject: no empty tokens, wildcards or whitespace".into());
    }
    None
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

    #[test]
    fn only_plain_inbox_subjects_are_accepted() {
        assert_eq!(stream_to_problem("_INBOX.abc.1"), None);
        for refused in [
            "agentry.ns.agent.a.query",
            "_INBOX",
            "_INBOX.",
            "_INBOX.a..b",
            "_INBOX.*",
            "_INBOX.>",
            "_INBOX.a b",
            "x_INBOX.a",
        ] {
            assert!(stream_to_problem(refused).is_some(), "{refused} is refused");
        }
        let message = stream_to_problem("agentry.ns.agent.a.query").expect("refused");
        assert!(message.starts_with("streamTo must be a subject under _INBOX."), "{message}");
        assert!(stream_to_problem(&format!("_INBOX.{}", "x".repeat(MAX_STREAM_SUBJECT_LEN))).is_some());
    }
}
