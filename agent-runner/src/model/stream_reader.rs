//! Reading a streamed (SSE) model answer: the body's chunks as they arrive, through the SSE
//! reader, into a provider's assembler, which passes text on as it comes and builds the same
//! [`ModelTurn`] the provider's non-streamed answer would give.

use super::chat::ModelTurn;
use super::error::ModelError;
use super::sse_lines::{SseEvent, SseLines};
use super::token_sink::TokenSink;
use super::transport::send_error;

/// Most bytes read from one streamed answer; the stream's framing makes it several times the
/// size of the same answer unstreamed, whose cap is 16 MiB.
const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;

/// Builds one provider's answer from its stream's events.
pub(crate) trait StreamAssembler {
    /// Takes the next event, passing any new text to `tokens`; `true` once the stream has said
    /// it is complete (nothing after that is read).
    fn event(&mut self, event: SseEvent, tokens: &dyn TokenSink) -> Result<bool, ModelError>;

    /// The answer, once the body has ended or the stream said it was complete; a stream that
    /// ended before it was complete was cut, a [`ModelError::Connection`].
    fn finish(self) -> Result<ModelTurn, ModelError>;
}

/// Reads `response`'s body as SSE into `assembler` until the stream is complete or ends.
pub(crate) async fn read_stream<A: StreamAssembler>(
    mut response: reqwest::Response,
    mut assembler: A,
    tokens: &dyn TokenSink,
) -> Result<ModelTurn, ModelError> {
    let mut lines = SseLines::default();
    let mut read = 0usize;
    while let Some(chunk) = response.chunk().await.map_err(send_error)? {
        read += chunk.len();
        if read > MAX_STREAM_BYTES {
            return Err(ModelError::Malformed(format!("stream longer than {MAX_STREAM_BYTES} bytes")));
        }
        for event in lines.push(&chunk)? {
            if assembler.event(event, tokens)? {
                return assembler.finish();
            }
        }
    }
    assembler.finish()
}
