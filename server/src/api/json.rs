//! A JSON body extractor whose errors name the field at fault, as validation errors do.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, but a malformed body is a 400 naming the path of the bad field. Every body
/// of this API is a JSON object: anything else is refused, rather than letting serde read a
/// struct from a positional array.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid("body", e.body_text()))?;
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | None => parse(&bytes).map(Body),
            Some(_) => Err(ApiError::invalid("body", "must be a JSON object")),
        }
    }
}

/// Parses JSON, reporting the path of the first field that does not fit.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::invalid(field, err.into_inner().to_string())
    })
}
