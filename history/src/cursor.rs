//! Opaque page cursors: the sort key of a page's last item, `(time, id)`, hex-encoded so it
//! travels in a query string as is. Nothing else is in it: a forged cursor only moves a page.

use crate::error::HistoryError;

/// Where the next page starts: strictly after (in the list's order) this key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The last item's time, microseconds since the epoch.
    pub(crate) micros: i64,
    /// The last item's id (request, session or event id).
    pub(crate) id: String,
}

impl Cursor {
    /// The cursor's text: hex of `<micros>:<id>`.
    pub(crate) fn encode(&self) -> String {
        format!("{}:{}", self.micros, self.id).bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses `text`, or says why it is no cursor of ours (naming the `cursor` field).
    pub(crate) fn decode(text: &str) -> Result<Self, HistoryError> {
        let bad =
            || HistoryError::invalid("cursor", "not a cursor this API returned; start again without it");
        if text.is_empty() || !text.len().is_multiple_of(2) || text.len() > 2048 {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let plain = String::from_utf8(bytes).map_err(|_| bad())?;
        let (micros, id) = plain.split_once(':').ok_or_else(bad)?;
        let micros = micros.parse().map_err(|_| bad())?;
        if id.is_empty() {
            return Err(bad());
        }
        Ok(Self { micros, id: id.to_string() })
    }

    /// [`Cursor::decode`] of an optional cursor.
    pub(crate) fn parse(text: Option<&str>) -> Result<Option<Self>, HistoryError> {
        text.map(Self::decode).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let cursor = Cursor { micros: -5, id: "req:1.a".into() };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
        for bad in ["", "zz", "abc", "3a", "41", "2d3a78"] {
            let error = Cursor::decode(bad).expect_err(bad);
            assert!(matches!(error, HistoryError::InvalidInput { field: "cursor", .. }), "{bad}: {error}");
        }
    }
}
