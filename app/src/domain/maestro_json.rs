//! How Maestro v10's JSON (proto3 JSON) writes some values, and readers that accept them:
//! 64-bit integers as strings (`"timeout": "1000"`), `0` for a port that is not set, empty
//! objects for resources that are not set, and `null` for anything left at its default. Each
//! writer answers what its reader reads back to the same value, so stored documents survive.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `null` reads as the type's default (proto3 JSON writes unset fields so).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Reads an integer written as a number or as a numeric string, or (with `text`) a text that
/// may be written as a number. Read directly rather than through an untagged enum, which would
/// make serde buffer the value (and cost the browser bundle a second deserializer).
struct Lenient {
    text: bool,
}

enum Read {
    Integer(i64),
    Text(String),
    Null,
}

impl<'de> serde::de::Visitor<'de> for Lenient {
    type Value = Read;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if self.text {
            f.write_str("a text or a number")
        } else {
            f.write_str("an integer, or an integer in a string")
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Read, E> {
        Ok(Read::Integer(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Read, E> {
        i64::try_from(v)
            .map(Read::Integer)
            .map_err(|_| E::custom(format!("{v} is too large")))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Read, E> {
        if self.text {
            return Ok(Read::Text(v.to_string()));
        }
        v.trim()
            .parse()
            .map(Read::Integer)
            .map_err(|_| E::custom(format!("{v:?} is not an integer")))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Read, E> {
        Ok(Read::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Read, E> {
        Ok(Read::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Read, D::Error> {
        d.deserialize_any(self)
    }
}

fn read<'de, D: Deserializer<'de>>(d: D, text: bool) -> Result<Read, D::Error> {
    d.deserialize_any(Lenient { text })
}

/// An integer written as a number or as a numeric string (proto3 JSON writes int64 as strings).
pub fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match read(d, false)? {
        Read::Integer(n) => Ok(n),
        Read::Text(_) | Read::Null => Err(serde::de::Error::custom("expected an integer")),
    }
}

/// A text that may be written as a number (`maxSurge: 3` in YAML files).
pub fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match read(d, true)? {
        Read::Integer(n) => Ok(n.to_string()),
        Read::Text(text) => Ok(text),
        Read::Null => Err(serde::de::Error::custom("expected a text")),
    }
}

/// A port that may be unset: written `0` when unset, as Maestro answers; `0` or `null` read as unset.
pub mod optional_port {
    use super::*;

    pub fn serialize<S: Serializer>(port: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        port.unwrap_or(0).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match read(d, false)? {
            Read::Integer(0) | Read::Null => Ok(None),
            Read::Integer(port) => Ok(Some(port)),
            Read::Text(_) => Err(serde::de::Error::custom("expected a port")),
        }
    }
}

/// Resources that may be unset: written `{"memory": "", "cpu": ""}` when unset, as Maestro
/// answers; that, `{}` and `null` read as unset.
pub mod optional_resources {
    use super::*;
    use crate::domain::scheduler::Resources;

    pub fn serialize<S: Serializer>(
        resources: &Option<Resources>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match resources {
            Some(resources) => resources.serialize(s),
            None => Resources::default().serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Resources>, D::Error> {
        let resources = Option::<Resources>::deserialize(d)?;
        Ok(resources.filter(|r| !(r.memory.is_empty() && r.cpu.is_empty())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scheduler::Resources;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "integer")]
        timeout: i64,
        #[serde(default, deserialize_with = "text_or_number")]
        surge: String,
        #[serde(default, with = "optional_port")]
        host_port: Option<i64>,
        #[serde(default, with = "optional_resources")]
        requests: Option<Resources>,
        #[serde(default, deserialize_with = "null_as_default")]
        list: Vec<i64>,
    }

    fn read(json: &str) -> Sample {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reads_what_maestro_writes() {
        let sample = read(
            r#"{"timeout": "1000", "surge": 3, "host_port": 0,
                "requests": {"memory": "", "cpu": ""}, "list": null}"#,
        );
        assert_eq!(
            sample,
            Sample {
                timeout: 1000,
                surge: "3".into(),
                host_port: None,
                requests: None,
                list: vec![],
            }
        );
        let sample = read(r#"{"timeout": 5, "host_port": "7000", "requests": {"cpu": "1"}}"#);
        assert_eq!(sample.timeout, 5);
        assert_eq!(sample.host_port, Some(7000));
        assert_eq!(sample.requests.unwrap().cpu, "1");
        assert!(serde_json::from_str::<Sample>(r#"{"timeout": "soon"}"#).is_err());
    }

    #[test]
    fn writes_unset_values_as_maestro_does_and_reads_them_back() {
        let unset = read("{}");
        let json = serde_json::to_value(&unset).unwrap();
        assert_eq!(json["host_port"], 0);
        assert_eq!(
            json["requests"],
            serde_json::json!({"memory": "", "cpu": ""})
        );
        assert_eq!(serde_json::from_value::<Sample>(json).unwrap(), unset);
    }
}
