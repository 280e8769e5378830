//! Query strings decoded so that a 400 names the parameter at fault.

use agentry_api_contract::ApiErrorCode;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;

/// The query string as a `T`.
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        decode(parts.uri.query().unwrap_or_default()).map(Params)
    }
}

/// `query` as a `T`, or a 400 naming the parameter serde stopped at.
pub(crate) fn decode<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let message = format!("the query string is not valid: {}", err.inner());
        if path != "." && !path.is_empty() {
            ApiError::bad_field(&path, message)
        } else {
            ApiError::new(ApiErrorCode::BadRequest, message)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_api_contract::history::InteractionListQuery;

    #[test]
    fn a_malformed_parameter_is_named() {
        let err = decode::<InteractionListQuery>("limit=many").expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("limit"), "{err:?}");
        let ok: InteractionListQuery = decode("to=sales&limit=5&type=delegation").expect("decodes");
        assert_eq!(
            (ok.to.as_deref(), ok.limit, ok.r#type.as_deref()),
            (Some("sales"), Some(5), Some("delegation"))
        );
    }
}
