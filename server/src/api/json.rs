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

/// Parses JSON, reporting the path of the first field that does not fit. JSON does not tell
/// `1.0` from `1`: a body refused as it is is read again with its whole-number floats as
/// integers (only then, so that a body that fits pays for one parse).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let refused = match parse_exactly(bytes) {
        Ok(value) => return Ok(value),
        Err(refused) => refused,
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(refused);
    };
    if !whole_floats_to_integers(&mut value) {
        return Err(refused);
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| ApiError::Internal(e.to_string()))?;
    parse_exactly(&bytes)
}

/// Turns every float without a fraction (`2.0`, `-3e2`) into an integer; whether there was one.
fn whole_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(float)
                if number.is_f64()
                    && float.fract() == 0.0
                    && float >= i64::MIN as f64
                    && float < i64::MAX as f64 =>
            {
                *value = Value::from(float as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            whole_floats_to_integers(item) | changed
        }),
        Value::Object(fields) => fields.values_mut().fold(false, |changed, item| {
            whole_floats_to_integers(item) | changed
        }),
        _ => false,
    }
}

fn parse_exactly<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().clone();
        at_fault(&path, err.into_inner().to_string(), "body")
    })
}

/// The error of a value that did not fit, at the field at fault: serde reports a missing,
/// duplicate or unknown field at the object that lacks or holds it, so its name is added to the
/// path.
/// `whole` names the value itself (`body`, `query`) when the fault is at its top.
pub(super) fn at_fault(path: &serde_path_to_error::Path, message: String, whole: &str) -> ApiError {
    let mut field = match path.to_string() {
        top if top == "." => String::new(),
        path => path,
    };
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    // serde_path_to_error's path already ends at an unknown field's key (not at a missing one).
    let named = named.filter(|name| field != *name && !field.ends_with(&format!(".{name}")));
    if let Some(name) = named {
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(name);
    }
    if field.is_empty() {
        field = whole.to_string();
    }
    ApiError::invalid(field, message)
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
