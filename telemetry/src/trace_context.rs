//! W3C trace context: the `traceparent` header that carries a trace across NATS hops
//! (`00-<trace id>-<parent span id>-<flags>`).

use rand::Rng;

/// Where a span sits in its trace: the trace, the span itself and whether the trace is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace's 16-byte id, never all zero.
    pub trace_id: [u8; 16],
    /// The span's 8-byte id, never all zero.
    pub span_id: [u8; 8],
    /// Whether the trace is recorded (flag `01`); an unsampled trace is carried on, not exported.
    pub sampled: bool,
}

impl TraceContext {
    /// Reads a `traceparent` header value; `None` when it is not a valid one (the W3C rule: such
    /// a header is ignored and a new trace starts).
    pub fn from_traceparent(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let span_id = parts.next()?;
        let flags = parts.next()?;
        // Version 00 has exactly four parts; a later version may append more.
        if version.len() != 2
            || version.eq_ignore_ascii_case("ff")
            || (version == "00" && parts.next().is_some())
        {
            return None;
        }
        decode_hex::<1>(version)?;
        let trace_id = decode_hex::<16>(trace_id)?;
        let span_id = decode_hex::<8>(span_id)?;
        let [flags] = decode_hex::<1>(flags.get(..2)?)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    /// The `traceparent` header value naming this span as the parent.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            encode_hex(&self.trace_id),
            encode_hex(&self.span_id),
            if self.sampled { "01" } else { "00" }
        )
    }

    /// A new trace's first span, sampled.
    pub fn new_root() -> Self {
        Self { trace_id: random_id(), span_id: random_id(), sampled: true }
    }

    /// A new span in this span's trace, sampled as it is.
    pub fn new_child(&self) -> Self {
        Self { trace_id: self.trace_id, span_id: random_id(), sampled: self.sampled }
    }
}

/// Lowercase hex, as OTLP/JSON and `traceparent` write ids.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// Exactly `N` bytes of lowercase hex (W3C forbids uppercase).
fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// A random id that is not all zero (an all-zero id is invalid).
fn random_id<const N: usize>() -> [u8; N] {
    let mut rng = rand::rng();
    loop {
        let mut id = [0u8; N];
        rng.fill(&mut id[..]);
        if id != [0; N] {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back_as_written() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::from_traceparent(header).expect("valid");
        assert_eq!(encode_hex(&context.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(encode_hex(&context.span_id), "00f067aa0ba902b7");
        assert!(context.sampled);
        assert_eq!(context.traceparent(), header);
        let unsampled =
            TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert_eq!(unsampled.map(|c| c.sampled), Some(false));
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::from_traceparent(bad), None, "{bad:?} is not a traceparent");
        }
        // A later version may carry more fields; the first four are still read.
        assert!(
            TraceContext::from_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
                .is_some()
        );
    }

    #[test]
    fn a_child_keeps_the_trace_and_gets_its_own_span() {
        let root = TraceContext::new_root();
        let child = root.new_child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_ne!(root.trace_id, TraceContext::new_root().trace_id, "ids are random");
    }
}
