//! Text cut to a size at a character boundary, saying that it was cut.

/// What ends a cut text.
pub const CUT_MARKER: &str = "\n…[truncated; the full text is in the session history]";

/// `text` if it fits in `max_bytes`; otherwise its start, cut at a character boundary, and
/// [`CUT_MARKER`], together at most `max_bytes` long (bytes, so also at most that many characters).
pub fn bounded(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes.saturating_sub(CUT_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARKER}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(bounded("hello", 5), "hello");
        assert_eq!(bounded("", 0), "");
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary_with_the_marker() {
        let limit = 32 * 1024;
        // Four-byte characters: a cut in the middle of one must step back to its start.
        let text = "𝄞".repeat(limit);
        let cut = bounded(&text, limit);
        assert!(cut.len() <= limit, "{} bytes", cut.len());
        assert!(cut.ends_with(CUT_MARKER));
        let kept = cut.strip_suffix(CUT_MARKER).expect("marker");
        assert!(kept.chars().all(|c| c == '𝄞') && !kept.is_empty());
        assert!(limit - cut.len() < 4, "cut no more than needed: {} bytes", cut.len());
        let ascii = "a".repeat(limit + 1);
        assert_eq!(bounded(&ascii, limit).len(), limit);
    }
}
