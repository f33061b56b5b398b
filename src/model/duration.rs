//! The one duration syntax of the configuration and of policies: a whole
//! number and a unit (`500ms`, `8s`, `5m`, `1h`, `2d`, `1w`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration written `500ms`, `8s`, `5m`, `1h`, `2d` or `1w`: the one
/// duration syntax of the configuration and of policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const fn secs(secs: u64) -> ConfigDuration {
        ConfigDuration(Duration::from_secs(secs))
    }

    pub fn get(self) -> Duration {
        self.0
    }

    pub fn parse(text: &str) -> Option<ConfigDuration> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return None,
        };
        number
            .checked_mul(millis_per_unit)
            .map(|ms| ConfigDuration(Duration::from_millis(ms)))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

/// Reads the text form; a bare number gets a message naming the unit it
/// lacks rather than serde's "expected a string".
struct DurationVisitor;

const EXPECTED: &str = "a number and a unit (ms, s, m, h, d, w), e.g. 8s";

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = ConfigDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration: {EXPECTED}")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ConfigDuration, E> {
        ConfigDuration::parse(text)
            .ok_or_else(|| E::custom(format!("invalid duration {text:?}: expected {EXPECTED}")))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ConfigDuration, E> {
        Err(E::custom(format!(
            "invalid duration {n}: a unit is missing; write e.g. {n}s (units: ms, s, m, h, d, w)"
        )))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ConfigDuration, E> {
        Err(E::custom(format!(
            "invalid duration {n}: expected {EXPECTED}"
        )))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<ConfigDuration, E> {
        Err(E::custom(format!(
            "invalid duration {n}: expected {EXPECTED}"
        )))
    }
}

/// For `#[serde(deserialize_with)]` on a timeout, interval or window: a
/// [`ConfigDuration`] that must not be zero (a zero timeout or tick is a
/// mistake, refused rather than replaced by a default).
pub fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<ConfigDuration, D::Error> {
    let duration = ConfigDuration::deserialize(d)?;
    if duration.0.is_zero() {
        return Err(serde::de::Error::custom(
            "a duration of zero: expected a positive duration, e.g. 500ms, 8s or 5m",
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Timeout {
        #[serde(deserialize_with = "positive")]
        timeout: ConfigDuration,
    }

    #[test]
    fn positive_durations_refuse_zero_and_nonsense() {
        let read = |text: &str| serde_yaml::from_str::<Timeout>(text);
        assert_eq!(
            read("timeout: 500ms").unwrap().timeout.get().as_millis(),
            500
        );
        for bad in [
            "timeout: 0s",
            "timeout: 0ms",
            "timeout: -1s",
            "timeout: 1.5s",
            "timeout: 120",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let err = read("timeout: 0s").unwrap_err().to_string();
        assert!(err.contains("expected a positive duration"), "{err}");
        let err = read("timeout: 120").unwrap_err().to_string();
        assert!(
            err.contains("a unit is missing") && err.contains("120s"),
            "{err}"
        );
    }
}
