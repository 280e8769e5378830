//! Server-Sent Events as model APIs stream them: bytes in, events out. Lines end in `\n`, `\r\n`
//! or `\r`; `data:` lines of one event are joined with `\n`; a blank line ends the event;
//! comments (`:`) and other fields are skipped. Bounded: a line or event longer than
//! [`MAX_EVENT_BYTES`] is a malformed answer, not a reason to run out of memory.

use super::error::ModelError;

/// Longest line, and longest `data` of one event, accepted.
pub(crate) const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// One complete event.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SseEvent {
    /// The `event:` field, empty when none was given.
    pub(crate) event: String,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// The reader's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct SseLines {
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` opening the next one ends no second line.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseLines {
    /// Reads `bytes`, returning the events they complete. An event still open when the stream
    /// ends is dropped, as the SSE standard says: a cut stream does not yield half an event.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, ModelError> {
        let mut events = Vec::new();
        let mut rest = bytes;
        if std::mem::take(&mut self.after_cr) && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        while let Some(end) = rest.iter().position(|b| matches!(b, b'\n' | b'\r')) {
            self.extend_line(&rest[..end])?;
            let was_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if was_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.line_ended(&line)? {
                events.push(event);
            }
        }
        self.extend_line(rest)?;
        Ok(events)
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), ModelError> {
        if self.line.len() + bytes.len() > MAX_EVENT_BYTES {
            return Err(too_long("line"));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_ended(&mut self, line: &[u8]) -> Result<Option<SseEvent>, ModelError> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            if !std::mem::take(&mut self.has_data) {
                return Ok(None);
            }
            return Ok(Some(SseEvent { event, data: std::mem::take(&mut self.data) }));
        }
        let line = std::str::from_utf8(line)
            .map_err(|e| ModelError::Malformed(format!("stream line is not UTF-8: {e}")))?;
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(too_long("event"));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            // `id` and `retry` matter to reconnecting browsers, not to one model answer.
            _ => {}
        }
        Ok(None)
    }
}

fn too_long(what: &str) -> ModelError {
    ModelError::Malformed(format!("stream {what} longer than {MAX_EVENT_BYTES} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    #[test]
    fn events_split_anywhere_are_put_back_together() {
        let stream =
            b"event: message_start\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: ping\n\ndata:[DONE]\r\rdata: x\n";
        for cut in 0..stream.len() {
            let mut lines = SseLines::default();
            let mut events = lines.push(&stream[..cut]).expect("first part");
            events.extend(lines.push(&stream[cut..]).expect("second part"));
            assert_eq!(events, [event("message_start", "{\"a\":\n1}"), event("", "[DONE]")], "cut at {cut}");
        }
    }

    #[test]
    fn long_lines_and_events_are_malformed() {
        let mut lines = SseLines::default();
        let chunk = vec![b'x'; MAX_EVENT_BYTES / 2 + 1];
        lines.push(b"data: ").expect("start");
        lines.push(&chunk).expect("half");
        assert!(matches!(lines.push(&chunk), Err(ModelError::Malformed(m)) if m.contains("line")));

        let mut lines = SseLines::default();
        let half = format!("data: {}\n", "y".repeat(MAX_EVENT_BYTES / 2));
        lines.push(half.as_bytes()).expect("first line");
        assert!(matches!(lines.push(half.as_bytes()), Err(ModelError::Malformed(m)) if m.contains("event")));
        assert!(matches!(SseLines::default().push(b"data: \xff\n"), Err(ModelError::Malformed(_))));
    }
}
