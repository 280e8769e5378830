//! A conversation's earlier turns, sent with a request (`history`) so an agent answers in context.

use serde::{Deserialize, Serialize};

/// Most turns a request's `history` may hold.
pub const MAX_HISTORY_TURNS: usize = 200;

/// Most bytes the `content` of all `history` turns together may hold: with the input and the
/// rest of the request, the message must still fit NATS's default 1 MiB payload.
pub const MAX_HISTORY_BYTES: usize = 512 * 1024;

/// Who said one turn of a conversation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// The caller (a person, a system).
    User,
    /// The agent.
    Assistant,
}

/// One earlier turn of a conversation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatTurn {
    /// Who said it.
    pub role: ChatRole,
    /// What was said.
    pub content: String,
}

impl ChatTurn {
    /// A turn of the caller's.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: ChatRole::User, content: content.into() }
    }

    /// A turn of the agent's.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: ChatRole::Assistant, content: content.into() }
    }
}

/// What is wrong with `history`, if anything: more than [`MAX_HISTORY_TURNS`] turns, more than
/// [`MAX_HISTORY_BYTES`] of content, or an empty turn (model APIs refuse empty messages).
pub fn history_problem(history: &[ChatTurn]) -> Option<String> {
    if history.len() > MAX_HISTORY_TURNS {
        return Some(format!(
            "history holds {} turns; at most {MAX_HISTORY_TURNS} are accepted",
            history.len()
        ));
    }
    let bytes: usize = history.iter().map(|turn| turn.content.len()).sum();
    if bytes > MAX_HISTORY_BYTES {
        return Some(format!(
            "history holds {bytes} bytes of content; at most {MAX_HISTORY_BYTES} are accepted"
        ));
    }
    history
        .iter()
        .position(|turn| turn.content.is_empty())
        .map(|index| format!("history[{index}].content must not be empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_role_and_content() {
        let turn = ChatTurn::assistant("Hi.");
        assert_eq!(
            serde_json::to_value(&turn).expect("serializes"),
            serde_json::json!({"role": "assistant", "content": "Hi."})
        );
        let parsed: ChatTurn = serde_json::from_str(r#"{"role":"user","content":"x"}"#).expect("parses");
        assert_eq!(parsed, ChatTurn::user("x"));
        assert!(serde_json::from_str::<ChatTurn>(r#"{"role":"system","content":"x"}"#).is_err());
    }

    #[test]
    fn history_is_bounded_in_turns_and_bytes_and_naming_history() {
        assert_eq!(history_problem(&[]), None);
        let turns = vec![ChatTurn::user("q"); MAX_HISTORY_TURNS];
        assert_eq!(history_problem(&turns), None);
        let too_many = vec![ChatTurn::user("q"); MAX_HISTORY_TURNS + 1];
        let message = history_problem(&too_many).expect("refused");
        assert!(message.starts_with("history holds 201 turns"), "{message}");
        let big = vec![ChatTurn::user("x".repeat(MAX_HISTORY_BYTES / 2 + 1)); 2];
        let message = history_problem(&big).expect("refused");
        assert!(message.starts_with("history holds") && message.contains("bytes"), "{message}");
        let empty = [ChatTurn::user("q"), ChatTurn::assistant("")];
        assert_eq!(history_problem(&empty).as_deref(), Some("history[1].content must not be empty"));
    }
}
