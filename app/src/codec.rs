//! How server functions answer: JSON, read back in the browser as text (`serde_json::from_str`).
//!
//! Leptos's own `Json` reads answers from bytes (`from_slice`), while resources read the values
//! the server rendered into the page from text (`from_str`). A type that travels both ways, as
//! most page data does, then carried two copies of its whole deserializer in the browser's
//! WASM, one per reader. Every server function here answers with [`JsonText`], so one reader
//! (and one copy) serves both. On the wire nothing changes: `application/json`, the same bytes.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::{DeserializeOwned, Error as _};

/// JSON, decoded from text; see the module.
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// A server function's answer (and, where asked, its arguments) as JSON in a `POST` body.
pub type JsonText = Post<JsonTextEncoding>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_back_as_written() {
        let value = serde_json::json!({"name": "arena", "rooms": [1, 2], "note": "é"});
        let bytes = <JsonTextEncoding as Encodes<_>>::encode(&value).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&value).unwrap());
        let back: serde_json::Value = JsonTextEncoding::decode(bytes).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        let not_utf8 = Bytes::from_static(&[b'"', 0xff, b'"']);
        assert!(<JsonTextEncoding as Decodes<String>>::decode(not_utf8).is_err());
        let not_json = Bytes::from_static(b"{");
        assert!(<JsonTextEncoding as Decodes<serde_json::Value>>::decode(not_json).is_err());
    }
}
