//! Kubernetes quantities (`100Mi`, `100m`), durations (`100s`, `1m30s`) and max surge (`3`, `10%`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parses a Kubernetes quantity into its value in base units (cores for cpu, bytes for memory).
///
/// Accepts a decimal number followed by one binary suffix (`Ki`..`Ei`), one decimal suffix
/// (`n`, `u`, `m`, ``, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`1e3`).
pub fn parse_quantity(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number = number.strip_prefix('+').unwrap_or(number);
    if number.is_empty()
        || number.starts_with('-')
        || number.matches('.').count() > 1
        || !number.chars().any(|c| c.is_ascii_digit())
        || number.contains(['+', '-'])
    {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let digits = digits.strip_prefix('+').unwrap_or(digits);
            let power: i32 = digits.parse().ok()?;
            10f64.powi(power)
        }
    };
    Some(value * multiplier)
}

/// Parses a duration such as `100s`, `1m30s`, `2h`, `500ms`, or a bare number of seconds.
pub fn parse_duration_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds as f64);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&end| end > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * unit;
        rest = &rest[unit_end..];
    }
    Some(total)
}

/// The termination grace period as given: Maestro v10 accepts a duration string, older tools send seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracePeriod(pub String);

impl Default for GracePeriod {
    fn default() -> Self {
        Self("100s".to_string())
    }
}

impl GracePeriod {
    /// Whole seconds, or `None` when the text is not a duration.
    pub fn seconds(&self) -> Option<u64> {
        parse_duration_seconds(&self.0).map(|s| s.ceil() as u64)
    }
}

impl Serialize for GracePeriod {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Text (`"30s"`) or a number of seconds, read directly (an untagged enum would make serde
/// buffer the value first, which costs the browser bundle a second deserializer).
impl<'de> Deserialize<'de> for GracePeriod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = GracePeriod;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"30s\" or a number of seconds")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<GracePeriod, E> {
                Ok(GracePeriod(text.to_string()))
            }

            fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<GracePeriod, E> {
                Ok(GracePeriod(format!("{seconds}s")))
            }

            fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<GracePeriod, E> {
                u64::try_from(seconds)
                    .map(|s| GracePeriod(format!("{s}s")))
                    .map_err(|_| E::custom("must be 0 or more seconds"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// How many rooms may be created above the target at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxSurge {
    Count(u32),
    Percent(u32),
}

impl MaxSurge {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (digits, percent) = match text.strip_suffix('%') {
            Some(digits) => (digits, true),
            None => (text, false),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let value: u32 = digits.parse().ok()?;
        if value == 0 || (percent && value > 100) {
            return None;
        }
        Some(if percent {
            Self::Percent(value)
        } else {
            Self::Count(value)
        })
    }

    /// The surge in rooms for a target of `desired` rooms; never less than one.
    pub fn rooms(self, desired: u32) -> u32 {
        match self {
            Self::Count(count) => count,
            Self::Percent(percent) => (desired * percent).div_ceil(100).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let cases: &[(&str, Option<f64>)] = &[
            ("100Mi", Some(100.0 * 1024.0 * 1024.0)),
            ("100m", Some(0.1)),
            // Metrics API usage: nanocores and microcores.
            ("123456n", Some(123456.0 * 1e-9)),
            ("500u", Some(500.0 * 1e-6)),
            ("1", Some(1.0)),
            ("1.5", Some(1.5)),
            ("2Gi", Some(2.0 * 1024f64.powi(3))),
            ("1k", Some(1000.0)),
            ("1e3", Some(1000.0)),
            ("+5", Some(5.0)),
            ("", None),
            ("Mi", None),
            ("100MB", None),
            ("-1", None),
            ("1.2.3", None),
            ("ten", None),
            ("1 Mi", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_quantity(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Option<f64>)] = &[
            ("100s", Some(100.0)),
            ("100", Some(100.0)),
            ("1m30s", Some(90.0)),
            ("2h", Some(7200.0)),
            ("500ms", Some(0.5)),
            ("", None),
            ("s", None),
            ("10x", None),
            ("-1s", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration_seconds(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn grace_period_accepts_text_or_seconds() {
        let text: GracePeriod = serde_json::from_str("\"100s\"").unwrap();
        let number: GracePeriod = serde_json::from_str("30").unwrap();
        assert_eq!(text.seconds(), Some(100));
        assert_eq!(number.seconds(), Some(30));
        assert_eq!(serde_json::to_string(&number).unwrap(), "\"30s\"");
        assert!(serde_json::from_str::<GracePeriod>("-5").is_err());
        assert!(serde_json::from_str::<GracePeriod>("true").is_err());
    }

    #[test]
    fn max_surge() {
        assert_eq!(MaxSurge::parse("10%"), Some(MaxSurge::Percent(10)));
        assert_eq!(MaxSurge::parse("3"), Some(MaxSurge::Count(3)));
        for bad in ["", "0", "0%", "101%", "%", "-1", "1.5", "ten"] {
            assert_eq!(MaxSurge::parse(bad), None, "{bad:?}");
        }
        assert_eq!(MaxSurge::Percent(10).rooms(5), 1);
        assert_eq!(MaxSurge::Percent(10).rooms(25), 3);
        assert_eq!(MaxSurge::Count(4).rooms(100), 4);
    }
}
