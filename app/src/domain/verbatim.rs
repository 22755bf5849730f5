//! Sections of a scheduler the dashboard carries without reading them (`allocation`; the form
//! edits `capacity`, which is thus typed in the browser too): the form does not edit them, so
//! the browser keeps the JSON the server sent and writes it back unchanged when it saves. On the
//! server they are their typed domain values. Their readers (field names, rules) thus stay out
//! of the browser's bundle.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A `T` on the server; in the browser, `T`'s JSON kept as text.
#[cfg(feature = "ssr")]
pub type ServerOnly<T> = T;
/// A `T` on the server; in the browser, `T`'s JSON kept as text.
#[cfg(not(feature = "ssr"))]
pub type ServerOnly<T> = Verbatim<T>;

/// The JSON of a `T`, as read (only through `serde_json`, which every server function uses).
pub struct Verbatim<T> {
    json: Box<RawValue>,
    of: PhantomData<fn() -> T>,
}

impl<T> Verbatim<T> {
    /// The JSON text as read.
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl<T> Clone for Verbatim<T> {
    fn clone(&self) -> Self {
        Self {
            json: self.json.clone(),
            of: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Verbatim<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json.get())
    }
}

impl<T> PartialEq for Verbatim<T> {
    fn eq(&self, other: &Self) -> bool {
        self.json.get() == other.json.get()
    }
}

impl<T> Serialize for Verbatim<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Verbatim<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            json: Box::<RawValue>::deserialize(deserializer)?,
            of: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Typed {
        a: u32,
        b: Vec<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Carrier {
        kept: Option<Verbatim<Typed>>,
        other: u32,
    }

    #[test]
    fn a_section_is_written_back_exactly_as_it_was_read() {
        let text = r#"{"kept":{"a":1,"b":["x","y"],"unknown":{"deep":[1,2]}},"other":7}"#;
        let carried: Carrier = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&carried).unwrap(), text);
        let typed: Typed =
            serde_json::from_str(carried.kept.as_ref().map(Verbatim::json).unwrap()).unwrap();
        assert_eq!(
            typed,
            Typed {
                a: 1,
                b: vec!["x".into(), "y".into()]
            }
        );
    }

    #[test]
    fn two_sections_are_equal_when_their_json_is() {
        let a: Verbatim<Typed> = serde_json::from_str(r#"{"a":1,"b":[]}"#).unwrap();
        let b = a.clone();
        let c: Verbatim<Typed> = serde_json::from_str(r#"{"a":2,"b":[]}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(format!("{a:?}"), r#"{"a":1,"b":[]}"#);
    }

    #[test]
    fn invalid_json_is_refused() {
        assert!(serde_json::from_str::<Verbatim<Typed>>(r#"{"a":"#).is_err());
    }
}
