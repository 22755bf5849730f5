//! The body extractor: JSON, or YAML (the seed's scheduler files) when the request says
//! `Content-Type: application/yaml`. Errors name the field at fault, as validation errors do.
//!
//! A body in any other media type (or none) is refused with 415: an HTML form or a plain
//! `fetch` from another site can only send form or text bodies without asking the browser's
//! permission first, so no cross-site page can make this API change anything.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, but a malformed body is a 400 naming the path of the bad field. Every body
/// of this API is an object (a JSON object, a YAML mapping): anything else is refused, rather
/// than letting serde read a struct from a positional array.
pub struct Body<T>(pub T);

const YAML_TYPES: &[&str] = &[
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
];

/// How the body is written, by its `Content-Type`.
#[derive(Debug, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

fn format(req: &Request) -> Result<Format, ApiError> {
    let mime = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase());
    match mime.as_deref() {
        Some(mime) if YAML_TYPES.contains(&mime) => Ok(Format::Yaml),
        Some(mime) if mime == "application/json" || mime.ends_with("+json") => Ok(Format::Json),
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "a body of type {other} is not read here: send application/json or application/yaml"
        ))),
        None => Err(ApiError::UnsupportedMediaType(
            "the body has no Content-Type: send application/json or application/yaml".into(),
        )),
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let format = format(&req)?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid("body", e.body_text()))?;
        if format == Format::Yaml {
            return parse_yaml(&bytes).map(Body);
        }
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

/// Parses a YAML mapping through its JSON form, so both report fields the same way.
fn parse_yaml<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_yaml_ng::from_slice(bytes)
        .map_err(|e| ApiError::invalid("body", format!("is not valid YAML: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be a YAML mapping"));
    }
    let json = serde_json::to_vec(&value).map_err(|e| ApiError::Internal(e.to_string()))?;
    parse(&json)
}
