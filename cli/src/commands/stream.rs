//! A streamed run: Server-Sent Events read as they arrive, token texts printed at once, tool and
//! model calls noted on stderr, ending with the `reply` (or the `error`) item.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use agentry_api_contract::invoke::{InvokeRequest, InvokeResponse, StreamItem};
use anyhow::{Context, bail};
use http_body_util::BodyExt;
use kube::client::Body;

use crate::connection::{ApiClient, ApiFailure, RequestError};
use crate::sse::{SseEvent, SseParser};

/// Largest event accepted: the final `reply` carries the whole answer.
const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;
/// The items this CLI knows; events of other names (added later) are skipped.
const KNOWN_EVENTS: [&str; 5] = ["token", "toolCall", "modelCall", "reply", "error"];

/// POST `request` to the stream endpoint `path` and follow the run to its reply, printing it
/// as it goes when `show`; the whole run must end within `deadline`.
pub(crate) async fn run(
    client: &ApiClient,
    path: &str,
    request: &InvokeRequest,
    show: bool,
    deadline: Duration,
) -> anyhow::Result<InvokeResponse> {
    let body = client.post_stream(path, request).await?;
    let mut printer = StreamPrinter::new(show);
    let outcome = tokio::time::timeout(deadline, follow(body, &mut printer)).await;
    printer.end_line()?;
    match outcome {
        Ok(result) => result,
        Err(_) => Err(RequestError::TimedOut { target: client.target().into(), after: deadline }.into()),
    }
}

async fn follow(mut body: Body, printer: &mut StreamPrinter) -> anyhow::Result<InvokeResponse> {
    let mut parser = SseParser::new(MAX_EVENT_BYTES);
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the stream broke off before the agent's reply")?;
        let Ok(data) = frame.into_data() else { continue };
        for event in parser.push(&data)? {
            let Some(item) = decode(&event)? else { continue };
            if let Some(end) = printer.item(item)? {
                return end;
            }
        }
    }
    bail!("the stream ended before the agent's reply")
}

/// The item an event carries; `None` for events this CLI does not know.
fn decode(event: &SseEvent) -> anyhow::Result<Option<StreamItem>> {
    if !KNOWN_EVENTS.contains(&event.event.as_str()) {
        return Ok(None);
    }
    let item = serde_json::from_str(&event.data)
        .with_context(|| format!("cannot read the streamed `{}` event", event.event))?;
    Ok(Some(item))
}

/// Writes the run as it arrives: tokens to stdout, calls to stderr.
struct StreamPrinter {
    show: bool,
    /// stdout holds text not yet ended by a newline.
    mid_line: bool,
    /// Tokens were printed (so the reply's text was already shown).
    streamed: bool,
    dim: bool,
}

impl StreamPrinter {
    fn new(show: bool) -> Self {
        let dim = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { show, mid_line: false, streamed: false, dim }
    }

    /// Show `item`; `Some` once the run ended (its reply, or its error).
    fn item(&mut self, item: StreamItem) -> anyhow::Result<Option<anyhow::Result<InvokeResponse>>> {
        match item {
            StreamItem::Token { text } => self.token(&text)?,
            StreamItem::ToolCall { name, ok, duration_ms } => {
                self.note(&format!("tool {name} {} in {duration_ms}ms", if ok { "ok" } else { "failed" }))?;
            }
            StreamItem::ModelCall { model, ok } => {
                self.note(&format!("model {model} {}", if ok { "answered" } else { "failed" }))?;
            }
            StreamItem::Reply(reply) => {
                if self.show && !self.streamed {
                    self.token(&reply.output)?;
                }
                return Ok(Some(Ok(reply)));
            }
            StreamItem::Error(error) => {
                let failure =
                    ApiFailure::Api { code: error.code, message: error.message, field: error.field };
                return Ok(Some(Err(failure.into())));
            }
        }
        Ok(None)
    }

    fn token(&mut self, text: &str) -> std::io::Result<()> {
        if !self.show || text.is_empty() {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
        self.streamed = true;
        self.mid_line = !text.ends_with('\n');
        Ok(())
    }

    fn note(&mut self, text: &str) -> std::io::Result<()> {
        if !self.show {
            return Ok(());
        }
        // On a terminal both streams share the screen: start the note on a line of its own.
        if self.mid_line && std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            eprintln!();
        }
        if self.dim {
            eprintln!("\x1b[2m[{text}]\x1b[0m");
        } else {
            eprintln!("[{text}]");
        }
        Ok(())
    }

    /// End the printed answer with a newline.
    fn end_line(&mut self) -> std::io::Result<()> {
        if self.mid_line {
            self.mid_line = false;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_events_decode_and_unknown_ones_are_skipped() {
        let token = SseEvent { event: "token".into(), data: r#"{"type":"token","text":"Hi"}"#.into() };
        assert_eq!(decode(&token).unwrap(), Some(StreamItem::Token { text: "Hi".into() }));
        let future = SseEvent { event: "thinking".into(), data: "{}".into() };
        assert_eq!(decode(&future).unwrap(), None);
        let broken = SseEvent { event: "reply".into(), data: "{".into() };
        assert!(decode(&broken).unwrap_err().to_string().contains("`reply`"));
    }

    #[test]
    fn an_error_item_ends_the_run_with_its_message() {
        let mut printer = StreamPrinter::new(false);
        let item = serde_json::from_str(r#"{"type":"error","code":"timeout","message":"no answer in 120s"}"#)
            .unwrap();
        let end = printer.item(item).unwrap().expect("the run ends");
        assert_eq!(end.unwrap_err().to_string(), "no answer in 120s");
    }
}
