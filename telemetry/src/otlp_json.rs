//! Spans as an OTLP/HTTP JSON `ExportTraceServiceRequest` (the protobuf JSON mapping, with ids
//! as hex and 64-bit numbers as strings, as the OTLP specification sets out).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::span_layer::{AttributeValue, SpanData, SpanStatus};
use crate::trace_context::encode_hex;

/// The instrumentation scope every span is reported under.
pub const SCOPE_NAME: &str = "agentry";

/// One export request body for `spans`, all from one resource.
pub fn export_request(resource: &[(String, String)], spans: &[SpanData]) -> Value {
    let resource: Vec<Value> =
        resource.iter().map(|(key, value)| json!({"key": key, "value": {"stringValue": value}})).collect();
    json!({
        "resourceSpans": [{
            "resource": {"attributes": resource},
            "scopeSpans": [{
                "scope": {"name": SCOPE_NAME, "version": env!("CARGO_PKG_VERSION")},
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
        }],
    })
}

fn span(data: &SpanData) -> Value {
    let kind = data.kind as i32;
    let mut span = json!({
        "traceId": encode_hex(&data.context.trace_id),
        "spanId": encode_hex(&data.context.span_id),
        "name": data.name,
        "kind": kind,
        "startTimeUnixNano": unix_nanos(data.start),
        "endTimeUnixNano": unix_nanos(data.end),
        "attributes": data.attributes.iter().map(|(key, value)| attribute(key, value)).collect::<Vec<_>>(),
        "status": status(&data.status),
    });
    if let (Some(parent), Some(fields)) = (data.parent_span_id, span.as_object_mut()) {
        fields.insert("parentSpanId".into(), Value::String(encode_hex(&parent)));
    }
    span
}

fn attribute(key: &str, value: &AttributeValue) -> Value {
    let value = match value {
        AttributeValue::Str(text) => json!({"stringValue": text}),
        AttributeValue::Int(number) => json!({"intValue": number.to_string()}),
        AttributeValue::Double(number) if number.is_finite() => json!({"doubleValue": number}),
        AttributeValue::Double(number) => json!({"stringValue": number.to_string()}),
        AttributeValue::Bool(flag) => json!({"boolValue": flag}),
    };
    json!({"key": key, "value": value})
}

fn status(status: &SpanStatus) -> Value {
    match status {
        SpanStatus::Unset => json!({}),
        SpanStatus::Ok => json!({"code": 1}),
        SpanStatus::Error(message) => json!({"code": 2, "message": message}),
    }
}

fn unix_nanos(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos()).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::span_layer::SpanKind;
    use crate::trace_context::TraceContext;

    #[test]
    fn a_span_is_written_as_otlp_json() {
        let context =
            TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .expect("valid");
        let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_001);
        let data = SpanData {
            context,
            parent_span_id: Some([1, 2, 3, 4, 5, 6, 7, 8]),
            name: "agentry.request",
            kind: SpanKind::Server,
            start,
            end: start + Duration::from_millis(5),
            attributes: vec![
                ("agentry.agent", AttributeValue::Str("a".into())),
                ("gen_ai.usage.input_tokens", AttributeValue::Int(12)),
                ("ok", AttributeValue::Bool(false)),
            ],
            status: SpanStatus::Error("model_unavailable".into()),
        };
        let body = export_request(&[("service.name".into(), "agentry-runner".into())], &[data]);
        let resource = &body["resourceSpans"][0];
        assert_eq!(resource["resource"]["attributes"][0]["value"]["stringValue"], "agentry-runner");
        let span = &resource["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span["spanId"], "00f067aa0ba902b7");
        assert_eq!(span["parentSpanId"], "0102030405060708");
        assert_eq!(span["kind"], 2);
        assert_eq!(span["startTimeUnixNano"], "1700000000000000001");
        assert_eq!(span["endTimeUnixNano"], "1700000000005000001");
        assert_eq!(
            span["attributes"][1],
            json!({"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}})
        );
        assert_eq!(span["attributes"][2]["value"], json!({"boolValue": false}));
        assert_eq!(span["status"], json!({"code": 2, "message": "model_unavailable"}));
    }
}
