//! Server-Sent Events, parsed incrementally from the bytes as they arrive (the WHATWG
//! `text/event-stream` rules the API's stream follows): `event:` and `data:` fields, `:` comments,
//! blank lines ending an event, lines ending in LF, CRLF or CR, split anywhere across reads.
//! Bounded: an event (or a line) larger than the limit is an error, not unbounded memory.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field; `message` when absent.
    pub(crate) event: String,
    /// The `data:` lines joined with `\n`.
    pub(crate) data: String,
}

/// The stream broke the rules or the bounds.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// An event or a line grew past the limit.
    #[error("a streamed event is larger than {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// A line is not UTF-8.
    #[error("a streamed event is not UTF-8 text")]
    NotUtf8,
}

/// Feeds bytes in, takes complete events out.
#[derive(Debug)]
pub(crate) struct SseParser {
    limit: usize,
    line: Vec<u8>,
    /// The last chunk ended with CR: an LF starting the next one belongs to that line end.
    after_cr: bool,
    event: String,
    data: Option<String>,
}

impl SseParser {
    /// A parser refusing events (and lines) over `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, line: Vec::new(), after_cr: false, event: String::new(), data: None }
    }

    /// Take in `chunk`; return the events it completed, in order.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.take_line(&line)? {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() + self.pending_len() >= self.limit {
                        return Err(SseError::TooLarge { limit: self.limit });
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    fn pending_len(&self) -> usize {
        self.data.as_ref().map_or(0, String::len) + self.event.len()
    }

    /// Apply one complete line; a blank line dispatches the event gathered so far.
    fn take_line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            return Ok(self.data.take().map(|data| SseEvent {
                event: if event.is_empty() { "message".into() } else { event },
                data,
            }));
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            // `id` and `retry` steer reconnection, which a one-shot run does not do; others are ignored.
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    #[test]
    fn events_end_at_a_blank_line() {
        let mut parser = SseParser::new(1024);
        let events =
            parser.push(b"event: token\ndata: {\"text\":\"Hi\"}\n\nevent: reply\ndata: {}\n\n").unwrap();
        assert_eq!(events, vec![event("token", "{\"text\":\"Hi\"}"), event("reply", "{}")]);
    }

    #[test]
    fn an_event_split_across_reads_anywhere_comes_out_once_whole() {
        let stream = b"event: token\r\ndata: {\"text\":\"a b\"}\r\n\r\nevent: reply\rdata: x\r\r";
        for split in 0..stream.len() {
            let mut parser = SseParser::new(1024);
            let mut events = parser.push(&stream[..split]).unwrap();
            events.extend(parser.push(&stream[split..]).unwrap());
            assert_eq!(
                events,
                vec![event("token", "{\"text\":\"a b\"}"), event("reply", "x")],
                "split at {split}"
            );
        }
        let mut parser = SseParser::new(1024);
        let events: Vec<SseEvent> = stream.iter().flat_map(|b| parser.push(&[*b]).unwrap()).collect();
        assert_eq!(events.len(), 2, "byte by byte");
    }

    #[test]
    fn data_lines_join_with_newlines_and_the_space_after_the_colon_is_optional() {
        let mut parser = SseParser::new(1024);
        let events = parser.push(b"data:first\ndata:  second\ndata\n\n").unwrap();
        assert_eq!(events, vec![event("message", "first\n second\n")]);
    }

    #[test]
    fn comments_ids_and_events_without_data_are_skipped() {
        let mut parser = SseParser::new(1024);
        let events = parser.push(b": keep-alive\n\nid: 7\nretry: 100\nevent: ping\n\ndata: x\n\n").unwrap();
        assert_eq!(events, vec![event("message", "x")], "the event name does not leak into the next event");
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut parser = SseParser::new(1024);
        assert!(parser.push(b"event: reply\ndata: {}\n").unwrap().is_empty());
    }

    #[test]
    fn events_over_the_limit_are_refused() {
        let mut parser = SseParser::new(16);
        assert_eq!(parser.push(&[b'a'; 17]).unwrap_err(), SseError::TooLarge { limit: 16 });
        let mut parser = SseParser::new(16);
        let err = parser.push(b"data: 0123456\ndata: 0123456\n").unwrap_err();
        assert_eq!(err, SseError::TooLarge { limit: 16 }, "many small lines of one event add up");
        let mut parser = SseParser::new(16);
        for _ in 0..10 {
            assert_eq!(
                parser.push(b"data: 012345\n\n").unwrap().len(),
                1,
                "dispatched events free their room"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut parser = SseParser::new(64);
        assert_eq!(parser.push(b"data: \xff\n").unwrap_err(), SseError::NotUtf8);
    }
}
