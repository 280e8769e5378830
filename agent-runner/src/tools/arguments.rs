//! Tool arguments: normalised from what the model sent and validated against the tool's JSON
//! Schema, with refusals worded so the model can fix its call on the next turn.

use serde_json::{Map, Value};

/// Problems listed in one refusal; more would only bury the first ones.
const MAX_REPORTED_ERRORS: usize = 5;
/// Longest single problem description, in characters (messages quote the offending value).
const MAX_ERROR_LEN: usize = 300;

/// A tool's compiled input schema.
pub(crate) struct ArgumentSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for ArgumentSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgumentSchema").finish_non_exhaustive()
    }
}

impl ArgumentSchema {
    /// Compiles `schema`, or says why it is not a usable JSON Schema.
    pub(crate) fn compile(schema: &Value) -> Result<Self, String> {
        // Formats are checked (not only annotated) because a tool author who writes
        // `"format": "date"` means it, and the model gets told precisely what is wrong.
        let validator =
            jsonschema::options().should_validate_formats(true).build(schema).map_err(|e| {
                match e.instance_path().as_str() {
                    "" => e.to_string(),
                    path => format!("{path}: {e}"),
                }
            })?;
        Ok(Self { validator })
    }

    /// Checks `arguments`, returning a description of every problem (up to a few) with the
    /// JSON Pointer of the argument it concerns.
    pub(crate) fn check(&self, arguments: &Value) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut total = 0;
        for error in self.validator.iter_errors(arguments) {
            total += 1;
            if problems.len() < MAX_REPORTED_ERRORS {
                let location = match error.instance_path().as_str() {
                    "" => "arguments".to_string(),
                    path => format!("argument `{path}`"),
                };
                problems.push(format!("{location}: {}", shorten(&error.to_string(), MAX_ERROR_LEN)));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        if total > problems.len() {
            problems.push(format!("and {} more problem(s)", total - problems.len()));
        }
        Err(problems.join("; "))
    }
}

/// The arguments as a JSON value the schema can judge.
///
/// Models sometimes send no arguments for a tool without parameters, or the arguments as a JSON
/// document inside a string; both are accepted as what they obviously mean. A string that is not
/// JSON is refused with the parse error, which is what the model needs to fix it.
pub(crate) fn normalize(arguments: &Value) -> Result<Value, String> {
    match arguments {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::String(text) if text.trim().is_empty() => Ok(Value::Object(Map::new())),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Object(_)) => Ok(value),
            Ok(_) => Err("arguments must be a JSON object".into()),
            Err(e) => Err(format!("arguments are not valid JSON ({e}); send a JSON object")),
        },
        other => Ok(other.clone()),
    }
}

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> ArgumentSchema {
        ArgumentSchema::compile(&json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "options": {
                    "type": "object",
                    "properties": {"units": {"enum": ["metric", "imperial"]}}
                },
                "date": {"type": "string", "format": "date"}
            },
            "required": ["city"],
            "additionalProperties": false
        }))
        .expect("valid schema")
    }

    #[test]
    fn valid_arguments_pass() {
        assert_eq!(schema().check(&json!({"city": "Paris", "days": 3})), Ok(()));
    }

    #[test]
    fn a_refusal_names_the_argument_path_and_the_reason() {
        let err = schema().check(&json!({"city": "Paris", "days": "three"})).expect_err("wrong type");
        assert_eq!(err, r#"argument `/days`: "three" is not of type "integer""#);
        let err =
            schema().check(&json!({"city": "Paris", "options": {"units": "kelvin"}})).expect_err("bad enum");
        assert!(err.starts_with("argument `/options/units`: "), "{err}");
        assert!(err.contains("kelvin"), "{err}");
        let err = schema().check(&json!({"city": "Paris", "days": 30})).expect_err("too many");
        assert!(err.contains("`/days`") && err.contains("14"), "{err}");
    }

    #[test]
    fn missing_and_unexpected_arguments_are_reported_at_the_top() {
        let err = schema().check(&json!({"town": "Paris"})).expect_err("missing");
        assert!(err.contains(r#"arguments: "city" is a required property"#), "{err}");
        assert!(err.contains("town"), "{err}");
    }

    #[test]
    fn formats_are_checked() {
        let err = schema().check(&json!({"city": "Paris", "date": "next tuesday"})).expect_err("format");
        assert!(err.contains("`/date`") && err.contains("date"), "{err}");
    }

    #[test]
    fn many_problems_are_summarised() {
        let schema =
            ArgumentSchema::compile(&json!({"type": "array", "items": {"type": "integer"}})).expect("schema");
        let err = schema.check(&json!(["a", "b", "c", "d", "e", "f", "g"])).expect_err("all wrong");
        assert!(err.contains("argument `/0`"), "{err}");
        assert!(err.ends_with("and 2 more problem(s)"), "{err}");
    }

    #[test]
    fn an_invalid_schema_does_not_compile() {
        let err = ArgumentSchema::compile(&json!({"type": "objekt"})).expect_err("bad type");
        assert!(err.contains("objekt"), "{err}");
        let err =
            ArgumentSchema::compile(&json!({"properties": {"a": {"minLength": -1}}})).expect_err("bad min");
        assert_eq!(err, "/properties/a/minLength: -1 is less than the minimum of 0");
    }

    /// A schema server on 127.0.0.1 counting the requests it answers, until [`Self::stop`].
    struct SchemaServer {
        addr: std::net::SocketAddr,
        served: std::thread::JoinHandle<usize>,
    }

    impl SchemaServer {
        /// Serves `{"type": "string"}` (a schema that would compile) to every GET.
        fn start() -> Self {
            use std::io::{Read, Write};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("address");
            let served = std::thread::spawn(move || {
                let mut fetches = 0;
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                        head.push(byte[0]);
                    }
                    // The stop connection sends nothing; everything else is a fetch.
                    if head.is_empty() {
                        break;
                    }
                    fetches += 1;
                    let body = r#"{"type": "string"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                fetches
            });
            Self { addr, served }
        }

        /// Stops the server; the number of requests it answered.
        fn stop(self) -> usize {
            drop(std::net::TcpStream::connect(self.addr).expect("connect to stop"));
            self.served.join().expect("schema server thread")
        }
    }

    #[test]
    fn remote_references_are_not_fetched() {
        // A tool's schema comes from a Tool resource: following its `$ref`s would let whoever
        // writes Tools make every runner send requests (or read files) of their choosing.
        let server = SchemaServer::start();
        let url = format!("http://{}/schema.json", server.addr);
        let compiled = ArgumentSchema::compile(&json!({"$ref": url}));
        let nested = ArgumentSchema::compile(&json!({
            "type": "object", "properties": {"city": {"$ref": format!("{url}#/")}}
        }));
        assert_eq!(server.stop(), 0, "the runner fetched a remote schema");
        let err = compiled.expect_err("an unresolvable reference does not compile");
        assert!(err.contains(&url), "{err}");
        assert!(nested.is_err(), "a nested remote reference does not compile either");

        let file = std::env::temp_dir().join(format!("agentry-schema-{}.json", std::process::id()));
        std::fs::write(&file, r#"{"type": "string"}"#).expect("write schema file");
        let from_file = ArgumentSchema::compile(&json!({"$ref": format!("file://{}", file.display())}));
        let _ = std::fs::remove_file(&file);
        assert!(from_file.is_err(), "a local file was read as a schema");
    }

    #[test]
    fn arguments_are_normalised() {
        assert_eq!(normalize(&Value::Null), Ok(json!({})));
        assert_eq!(normalize(&json!("")), Ok(json!({})));
        assert_eq!(normalize(&json!(r#"{"a": 1}"#)), Ok(json!({"a": 1})));
        assert_eq!(normalize(&json!({"a": 1})), Ok(json!({"a": 1})));
        let err = normalize(&json!("{\"a\": ")).expect_err("truncated JSON");
        assert!(err.starts_with("arguments are not valid JSON"), "{err}");
        assert_eq!(normalize(&json!("[1]")), Err("arguments must be a JSON object".into()));
    }

    #[test]
    fn shorten_cuts_at_a_character_boundary() {
        assert_eq!(shorten("héllo", 2), "hé…");
        assert_eq!(shorten("hi", 2), "hi");
    }
}
