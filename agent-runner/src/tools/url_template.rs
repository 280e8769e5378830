//! The URL of an `http` tool's request: its `{argument}` template, filled in with the call's
//! arguments one percent-encoded segment each, and the query string the other arguments go in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use reqwest::Url;
use serde_json::{Map, Value};

/// A URL with `{argument}` placeholders.
#[derive(Debug)]
pub(super) struct UrlTemplate {
    text: String,
    parts: Vec<TemplatePart>,
    /// Names of the placeholders, each once.
    placeholders: BTreeSet<String>,
}

#[derive(Debug)]
enum TemplatePart {
    Literal(String),
    Placeholder(String),
}

impl UrlTemplate {
    /// The template as configured.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// Checks `text`: placeholders well formed, and an http or https URL once filled in.
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut placeholders = BTreeSet::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(TemplatePart::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| format!("unclosed '{{' in URL template {text:?}"))?;
            let name = &after[..close];
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(format!("invalid placeholder {{{name}}} in URL template {text:?}"));
            }
            placeholders.insert(name.to_string());
            parts.push(TemplatePart::Placeholder(name.to_string()));
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched '}}' in URL template {text:?}"));
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_string()));
        }
        let template = Self { text: text.to_string(), parts, placeholders };
        // A sample expansion shows whether the template can ever give a usable URL.
        let sample = template.render(|_| "x".into());
        let url = Url::parse(&sample).map_err(|e| format!("{text:?} is not a valid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("{text:?} is not an http or https URL"));
        }
        Ok(template)
    }

    /// Whether a placeholder sits in the URL's authority (user, host or port), so that the
    /// model's arguments choose where the request goes.
    pub(super) fn host_has_placeholder(&self) -> bool {
        let after_scheme = self.text.split_once("://").map_or(self.text.as_str(), |(_, rest)| rest);
        let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
        authority.contains('{')
    }

    /// The template with each placeholder replaced by what `value_of` gives for its name.
    fn render(&self, mut value_of: impl FnMut(&str) -> String) -> String {
        let mut out = String::with_capacity(self.text.len());
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Placeholder(name) => out.push_str(&value_of(name)),
            }
        }
        out
    }

    /// The URL for `arguments`, and the arguments the template did not use.
    pub(super) fn expand(&self, arguments: &Value) -> Result<(Url, Value), String> {
        if self.placeholders.is_empty() {
            let url = Url::parse(&self.text).map_err(|e| format!("invalid URL: {e}"))?;
            return Ok((url, arguments.clone()));
        }
        let Value::Object(map) = arguments else {
            return Err("arguments must be a JSON object".into());
        };
        let mut values = BTreeMap::new();
        for name in &self.placeholders {
            let text = match map.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                None | Some(Value::Null) => {
                    return Err(format!("argument `{name}` is required: the URL contains {{{name}}}"));
                }
                Some(_) => {
                    return Err(format!(
                        "argument `{name}` goes into the URL and must be a string or a number"
                    ));
                }
            };
            // URL parsers resolve `.` and `..` segments even when percent-encoded: refusing them
            // keeps an argument from climbing out of the path the tool author chose.
            if text.is_empty() || text == "." || text == ".." {
                return Err(format!(
                    "argument `{name}` goes into the URL and may not be empty, \".\" or \"..\""
                ));
            }
            values.insert(name.as_str(), encode_component(&text));
        }
        let text = self.render(|name| values.get(name).cloned().unwrap_or_default());
        let url = Url::parse(&text).map_err(|e| format!("the arguments give an invalid URL: {e}"))?;
        let rest: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| !self.placeholders.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok((url, Value::Object(rest)))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so an argument is always one
/// path segment or query value (a `/`, `?` or `#` in it cannot change the URL's shape).
fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Adds `arguments` to the query string: scalars as text, arrays as repeated keys, objects as
/// JSON text, nulls left out.
pub(super) fn append_query(url: &mut Url, arguments: &Map<String, Value>) {
    if arguments.values().all(Value::is_null) {
        return;
    }
    let mut pairs = url.query_pairs_mut();
    for (key, value) in arguments {
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    pairs.append_pair(key, &query_text(item));
                }
            }
            other => {
                pairs.append_pair(key, &query_text(other));
            }
        }
    }
}

fn query_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_are_encoded_as_one_segment() {
        let template =
            UrlTemplate::parse("https://api.example.com/v1/users/{user}/items/{id}").expect("template");
        let (url, rest) = template.expand(&json!({"user": "a/b c?", "id": 7, "limit": 5})).expect("expands");
        assert_eq!(url.as_str(), "https://api.example.com/v1/users/a%2Fb%20c%3F/items/7");
        assert_eq!(rest, json!({"limit": 5}));
    }

    #[test]
    fn dot_segments_and_missing_arguments_are_refused() {
        let template = UrlTemplate::parse("http://h/items/{id}").expect("template");
        for bad in [json!({"id": ".."}), json!({"id": "."}), json!({"id": ""})] {
            let err = template.expand(&bad).expect_err("dot segment");
            assert!(err.contains("argument `id`"), "{err}");
        }
        let err = template.expand(&json!({"other": 1})).expect_err("missing");
        assert_eq!(err, "argument `id` is required: the URL contains {id}");
        let err = template.expand(&json!({"id": [1]})).expect_err("array");
        assert!(err.contains("must be a string or a number"), "{err}");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(UrlTemplate::parse("http://h/{id").is_err());
        assert!(UrlTemplate::parse("http://h/id}").is_err());
        assert!(UrlTemplate::parse("http://h/{}").is_err());
        assert!(UrlTemplate::parse("http://h/{a b}").is_err());
        assert!(UrlTemplate::parse("ftp://h/x").is_err());
        assert!(UrlTemplate::parse("not a url").is_err());
        assert!(UrlTemplate::parse("https://{host}/x").is_ok(), "a host placeholder is the author's choice");
    }

    #[test]
    fn placeholders_in_the_authority_are_told_apart_from_path_ones() {
        // (A placeholder for the port never parses: the sample expansion is not a number.)
        for text in ["https://{host}/x", "http://api.{region}.example/x", "http://{u}@h/"] {
            assert!(UrlTemplate::parse(text).expect(text).host_has_placeholder(), "{text}");
        }
        for text in ["https://h/{id}", "http://h?q={q}", "http://h/#{f}", "http://h"] {
            assert!(!UrlTemplate::parse(text).expect(text).host_has_placeholder(), "{text}");
        }
    }

    #[test]
    fn query_parameters_cover_every_json_shape() {
        let mut url = Url::parse("http://h/search?fixed=1").expect("url");
        let args = json!({"q": "a b", "n": 3, "tags": ["x", "y"], "skip": null, "f": {"k": true}});
        let Value::Object(map) = args else { unreachable!() };
        append_query(&mut url, &map);
        assert_eq!(url.query(), Some("fixed=1&f=%7B%22k%22%3Atrue%7D&n=3&q=a+b&tags=x&tags=y"));
    }

    /// `%XX` sequences back to bytes, as a server reading the path would.
    fn percent_decode(text: &str) -> Vec<u8> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        out
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        #[test]
        fn parsing_any_text_never_panics(text in proptest::prelude::any::<String>(), tail in "[{}a-z/:.?#]{0,20}") {
            let _ = UrlTemplate::parse(&text);
            if let Ok(template) = UrlTemplate::parse(&format!("http://h/{tail}")) {
                let _ = template.host_has_placeholder();
                let _ = template.expand(&json!({}));
            }
        }

        #[test]
        fn an_argument_is_one_segment_and_never_moves_the_host(
            a in proptest::prelude::any::<String>(),
            b in proptest::prelude::any::<String>(),
        ) {
            proptest::prop_assume!(![".", "..", ""].contains(&a.as_str()) && ![".", "..", ""].contains(&b.as_str()));
            let template = UrlTemplate::parse("https://api.example.com/v1/{a}/items/{b}").expect("template");
            let (url, rest) = template.expand(&json!({"a": a, "b": b, "c": 1})).expect("expands");
            proptest::prop_assert_eq!(url.host_str(), Some("api.example.com"));
            let segments: Vec<&str> = url.path_segments().expect("a path").collect();
            proptest::prop_assert_eq!(segments.len(), 4, "{}", url);
            proptest::prop_assert_eq!(percent_decode(segments[1]), a.as_bytes());
            proptest::prop_assert_eq!(percent_decode(segments[3]), b.as_bytes());
            proptest::prop_assert_eq!(url.query(), None);
            proptest::prop_assert_eq!(url.fragment(), None);
            proptest::prop_assert_eq!(rest, json!({"c": 1}));
        }

        #[test]
        fn any_arguments_expand_or_are_refused_without_a_panic(arguments in json_value()) {
            let template = UrlTemplate::parse("http://h/{id}/x").expect("template");
            if let Ok((mut url, Value::Object(rest))) = template.expand(&arguments) {
                append_query(&mut url, &rest);
                proptest::prop_assert_eq!(url.host_str(), Some("h"));
            }
        }
    }
}
