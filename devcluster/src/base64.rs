//! Standard base64 (with padding), as Secret `data` and ConfigMap `binaryData` hold bytes.

/// Standard base64 with padding, as Secret `data` holds it.
pub(crate) fn encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 (Secret `data`); `None` if malformed.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Under 256: `buffer` only ever holds the bits not pushed yet.
            out.push((buffer >> bits).to_le_bytes()[0]);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Where Go's `base64.StdEncoding` (what decodes `[]byte` fields from JSON) refuses `text`: the
/// byte offset its `CorruptInputError` names, `None` if it decodes. Newlines are skipped; padding
/// is required.
pub(crate) fn go_corrupt_offset(text: &str) -> Option<usize> {
    let src = text.as_bytes();
    let newline = |b: u8| b == b'\n' || b == b'\r';
    let mut si = 0;
    loop {
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                return (j != 0).then(|| si - j);
            }
            let byte = src[si];
            si += 1;
            if byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/' {
                j += 1;
                continue;
            }
            if newline(byte) {
                continue;
            }
            if byte != b'=' || j < 2 {
                return Some(si - 1);
            }
            return padding_end(src, si, j);
        }
    }
}

/// After the first `=` of a quantum (at `si - 1`, `j` characters into it): the rest of the
/// padding, then nothing but newlines.
fn padding_end(src: &[u8], mut si: usize, j: usize) -> Option<usize> {
    let skip_newlines = |mut i: usize| {
        while i < src.len() && (src[i] == b'\n' || src[i] == b'\r') {
            i += 1;
        }
        i
    };
    if j == 2 {
        si = skip_newlines(si);
        if si == src.len() {
            return Some(src.len());
        }
        if src[si] != b'=' {
            return Some(si - 1);
        }
        si += 1;
    }
    si = skip_newlines(si);
    (si < src.len()).then_some(si)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_offsets_are_go_s() {
        assert_eq!(go_corrupt_offset("aGVsbG8="), None);
        assert_eq!(go_corrupt_offset("aGVs\nbG8="), None);
        assert_eq!(go_corrupt_offset(""), None);
        assert_eq!(go_corrupt_offset("not base64!"), Some(3));
        assert_eq!(go_corrupt_offset("abc"), Some(0));
        assert_eq!(go_corrupt_offset("abcde"), Some(4));
        assert_eq!(go_corrupt_offset("ab="), Some(3));
        assert_eq!(go_corrupt_offset("a==="), Some(1));
        assert_eq!(go_corrupt_offset("ab==x"), Some(4));
    }

    #[test]
    fn base64_round_trips() {
        for text in ["", "a", "ab", "abc", "sk-test-123", "ünïcödé"] {
            let encoded = encode(text.as_bytes());
            assert_eq!(decode(&encoded).as_deref(), Some(text.as_bytes()), "{encoded}");
        }
        assert_eq!(encode(b"hello"), "aGVsbG8=");
    }
}
