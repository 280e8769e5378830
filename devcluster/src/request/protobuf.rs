//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
//! client-go's typed clients send for built-in kinds (`kubectl create namespace|secret|…`): the
//! `k8s\0` magic, a `runtime.Unknown` envelope naming `apiVersion` and `kind`, and the object's
//! message in `raw`. The object is decoded into the JSON the handlers read, by the message
//! descriptions in `protobuf_messages`; a kind not described there is refused with 415.

use serde_json::{Map, Value, json};

use super::protobuf_messages::{FieldKind, Message, message_of};

/// The media type client-go sends protobuf bodies with.
pub(crate) const PROTOBUF_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtobufError {
    /// Not a protobuf message, or cut short.
    #[error("the protobuf request body is malformed: {0}")]
    Malformed(&'static str),
    /// A kind whose messages devcluster does not know.
    #[error("devcluster cannot decode {kind} ({api_version}) from protobuf; send it as JSON")]
    UnknownKind { api_version: String, kind: String },
    /// A field, set in the body, that devcluster's description of the message lacks.
    #[error("devcluster cannot decode field {number} of protobuf message {message}; send the object as JSON")]
    UnknownField { message: &'static str, number: u64 },
}

/// Decode a `k8s\0`-prefixed body into the JSON object it encodes.
pub(crate) fn decode_body(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(b"k8s\0").ok_or(ProtobufError::Malformed("no k8s magic prefix"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for field in Fields(envelope) {
        match field? {
            (1, Wire::Len(type_meta)) => {
                for inner in Fields(type_meta) {
                    match inner? {
                        (1, Wire::Len(v)) => api_version = text(v)?,
                        (2, Wire::Len(v)) => kind = text(v)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(bytes)) => raw = bytes,
            _ => {}
        }
    }
    let message = message_of(&api_version, &kind)
        .ok_or_else(|| ProtobufError::UnknownKind { api_version: api_version.clone(), kind: kind.clone() })?;
    let mut object = decode_message(message, raw)?;
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    Ok(Value::Object(object))
}

/// One field's value on the wire.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed(u64),
}

/// The fields of a message, in order, as (number, value).
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), ProtobufError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.read_field())
    }
}

impl<'a> Fields<'a> {
    fn read_field(&mut self) -> Result<(u64, Wire<'a>), ProtobufError> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default())),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtobufError::Malformed("length"))?;
                Wire::Len(self.take(len)?)
            }
            5 => Wire::Fixed(u64::from(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))),
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        Ok((key >> 3, value))
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint too long"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ProtobufError> {
        if self.0.len() < len {
            return Err(ProtobufError::Malformed("truncated field"));
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(taken)
    }
}

/// Decode `bytes` as `message` into a JSON object, as Go's JSON encoding of the type reads.
fn decode_message(message: &'static Message, bytes: &[u8]) -> Result<Map<String, Value>, ProtobufError> {
    let mut object = Map::new();
    for field in Fields(bytes) {
        let (number, wire) = field?;
        let Some(described) = message.fields.iter().find(|f| f.number == number) else {
            if is_zero(wire) {
                continue; // Go's protobuf writes unset non-pointer fields as zero values.
            }
            return Err(ProtobufError::UnknownField { message: message.name, number });
        };
        let value = decode_value(described.kind, wire)?;
        match (described.kind, value) {
            (FieldKind::StringList | FieldKind::MessageList(_), Some(item)) => {
                let list = object.entry(described.json).or_insert_with(|| json!([]));
                if let Value::Array(items) = list {
                    items.push(item);
                }
            }
            (
                FieldKind::StringMap | FieldKind::BytesMap | FieldKind::QuantityMap,
                Some(Value::Array(entry)),
            ) => {
                let map = object.entry(described.json).or_insert_with(|| json!({}));
                if let ([key, value], Value::Object(map)) = (entry.as_slice(), map) {
                    map.insert(key.as_str().unwrap_or_default().to_owned(), value.clone());
                }
            }
            (FieldKind::Inline(_), Some(Value::Object(inner))) => object.extend(inner),
            (_, Some(value)) => {
                object.insert(described.json.to_owned(), value);
            }
            (_, None) => {}
        }
    }
    Ok(object)
}

/// One field's JSON value; `None` for a zero value Go's JSON would omit.
fn decode_value(kind: FieldKind, wire: Wire<'_>) -> Result<Option<Value>, ProtobufError> {
    let mismatch = || ProtobufError::Malformed("a field's wire type does not match its message");
    Ok(match (kind, wire) {
        (FieldKind::String | FieldKind::StringList, Wire::Len(v)) => {
            let s = text(v)?;
            (!s.is_empty() || matches!(kind, FieldKind::StringList)).then(|| json!(s))
        }
        (FieldKind::Int, Wire::Varint(v)) => (v != 0).then(|| json!(v as i64)),
        (FieldKind::KeptInt, Wire::Varint(v)) => Some(json!(v as i64)),
        (FieldKind::Bool, Wire::Varint(v)) => (v != 0).then_some(json!(true)),
        (FieldKind::KeptBool, Wire::Varint(v)) => Some(json!(v != 0)),
        (FieldKind::Message(m) | FieldKind::MessageList(m) | FieldKind::Inline(m), Wire::Len(v)) => {
            Some(Value::Object(decode_message(m, v)?))
        }
        (FieldKind::StringMap | FieldKind::BytesMap | FieldKind::QuantityMap, Wire::Len(v)) => {
            Some(map_entry(kind, v)?)
        }
        (FieldKind::Time, Wire::Len(v)) => time(v)?,
        (FieldKind::IntOrString, Wire::Len(v)) => Some(int_or_string(v)?),
        (FieldKind::Ignored, _) => None,
        _ => return Err(mismatch()),
    })
}

/// A map entry (key 1, value 2) as a `[key, value]` pair.
fn map_entry(kind: FieldKind, bytes: &[u8]) -> Result<Value, ProtobufError> {
    let (mut key, mut value) = (String::new(), json!(""));
    for field in Fields(bytes) {
        match (field?, kind) {
            ((1, Wire::Len(k)), _) => key = text(k)?,
            ((2, Wire::Len(v)), FieldKind::StringMap) => value = json!(text(v)?),
            ((2, Wire::Len(v)), FieldKind::BytesMap) => value = json!(crate::base64::encode(v)),
            ((2, Wire::Len(v)), FieldKind::QuantityMap) => value = json!(quantity(v)?),
            _ => return Err(ProtobufError::Malformed("map entry")),
        }
    }
    Ok(json!([key, value]))
}

/// `metav1.Time` (seconds, nanos) as RFC 3339; the zero time is `null`, so omitted.
fn time(bytes: &[u8]) -> Result<Option<Value>, ProtobufError> {
    let mut seconds = 0i64;
    for field in Fields(bytes) {
        if let (1, Wire::Varint(s)) = field? {
            seconds = s as i64;
        }
    }
    if seconds == 0 {
        return Ok(None);
    }
    let at =
        jiff::Timestamp::from_second(seconds).map_err(|_| ProtobufError::Malformed("time out of range"))?;
    Ok(Some(json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())))
}

/// `resource.Quantity`: its canonical string in field 1.
fn quantity(bytes: &[u8]) -> Result<String, ProtobufError> {
    let mut value = String::new();
    for field in Fields(bytes) {
        if let (1, Wire::Len(v)) = field? {
            value = text(v)?;
        }
    }
    Ok(value)
}

/// `intstr.IntOrString`: type 0 is the integer (field 2), type 1 the string (field 3).
fn int_or_string(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let (mut is_string, mut int, mut string) = (false, 0i64, String::new());
    for field in Fields(bytes) {
        match field? {
            (1, Wire::Varint(t)) => is_string = t == 1,
            // An int32 is sign-extended to 64 bits on the wire.
            (2, Wire::Varint(v)) => int = v as i64,
            (3, Wire::Len(v)) => string = text(v)?,
            _ => {}
        }
    }
    Ok(if is_string { json!(string) } else { json!(int) })
}

/// UTF-8 text of a string field.
fn text(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed("a string field is not UTF-8"))
}

/// A zero value: 0, empty, or a message holding only zero values.
fn is_zero(wire: Wire<'_>) -> bool {
    match wire {
        Wire::Varint(v) | Wire::Fixed(v) => v == 0,
        Wire::Len(bytes) => bytes.is_empty() || Fields(bytes).all(|f| f.is_ok_and(|(_, w)| is_zero(w))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `kubectl create secret generic s --from-literal=k=v --type=Opaque` sent (kubectl 1.32).
    const SECRET: &[u8] = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x23\n\x11\n\x01s\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x06\n\x01k\x12\x01v\x1a\x06Opaque\x1a\x00\"\x00";

    #[test]
    fn decodes_a_secret_from_kubectl() {
        let object = decode_body(SECRET).expect("decodes");
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "data": {"k": "dg=="}, "type": "Opaque"})
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(matches!(decode_body(b"{}"), Err(ProtobufError::Malformed(_))));
        assert!(matches!(decode_body(&SECRET[..SECRET.len() - 8]), Err(ProtobufError::Malformed(_))));
        let pod = b"k8s\x00\n\x09\n\x02v1\x12\x03Pod\x12\x00";
        assert!(matches!(decode_body(pod), Err(ProtobufError::UnknownKind { .. })));
        // Secret field 9 does not exist: set, it is refused rather than dropped.
        let odd = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x02\x48\x01";
        assert!(matches!(decode_body(odd), Err(ProtobufError::UnknownField { number: 9, .. })));
    }
}
