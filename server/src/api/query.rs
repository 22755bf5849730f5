//! The query-string extractor: like `axum::extract::Query`, but a parameter that does not fit
//! is a 400 naming it, in this API's JSON error body (axum's own rejection is plain text).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::json::at_fault;

pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Reads a query string (`a=1&b=x`) into `T`, reporting the parameter at fault.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().clone();
        at_fault(&path, err.into_inner().to_string(), "query")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Page {
        page: Option<u32>,
        wait: Option<String>,
    }

    fn field(query: &str) -> Option<String> {
        match parse::<Page>(query) {
            Ok(_) => None,
            Err(ApiError::Invalid(errors)) => Some(errors[0].field.clone()),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_parameter_that_does_not_fit_is_named() {
        assert_eq!(field("page=2&wait=1s"), None);
        assert_eq!(field("page=-1").as_deref(), Some("page"));
        assert_eq!(field("page=abc&wait=x").as_deref(), Some("page"));
        assert_eq!(field("page=99999999999").as_deref(), Some("page"));
        assert_eq!(field("page=1&page=2").as_deref(), Some("page"));
    }
}
