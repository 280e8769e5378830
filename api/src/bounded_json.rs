//! JSON bodies read with a size bound and decoded so that a 400 names the field at fault.

use agentry_api_contract::{ApiErrorCode, MAX_BODY_BYTES};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;

/// A JSON body of at most [`MAX_BODY_BYTES`], decoded into `T`.
pub(crate) struct BoundedJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for BoundedJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ApiErrorCode::BadRequest,
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status().as_u16() == 413 {
                ApiError::new(
                    ApiErrorCode::PayloadTooLarge,
                    format!("the body is over {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(
                    ApiErrorCode::BadRequest,
                    format!("reading the body: {}", rejection.body_text()),
                )
            }
        })?;
        decode(&bytes).map(BoundedJson)
    }
}

/// `bytes` as a `T`, or a 400 naming the field serde stopped at.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = format!("the body is not valid: {inner}");
        match field_of(&path, &inner) {
            Some(field) => ApiError::bad_field(&field, message),
            None => ApiError::new(ApiErrorCode::BadRequest, message),
        }
    })
}

/// The field to blame: the path serde reached, or the one a "missing field" names.
fn field_of(path: &str, err: &serde_json::Error) -> Option<String> {
    let text = err.to_string();
    if let Some(rest) = text.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return Some(if path == "." || path.is_empty() { name.to_owned() } else { format!("{path}.{name}") });
    }
    (path != "." && !path.is_empty()).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_api_contract::invoke::InvokeRequest;

    #[test]
    fn a_missing_or_mistyped_field_is_named() {
        let missing = decode::<InvokeRequest>(b"{}").expect_err("refused");
        assert_eq!(missing.field.as_deref(), Some("input"), "{missing:?}");
        let mistyped =
            decode::<InvokeRequest>(br#"{"input":"x","timeoutSeconds":"soon"}"#).expect_err("refused");
        assert_eq!(mistyped.field.as_deref(), Some("timeoutSeconds"), "{mistyped:?}");
        let garbage = decode::<InvokeRequest>(b"{not json").expect_err("refused");
        assert_eq!(garbage.code, ApiErrorCode::BadRequest);
        let ok = decode::<InvokeRequest>(br#"{"input":"hi"}"#).expect("decodes");
        assert_eq!(ok.input, "hi");
    }
}
