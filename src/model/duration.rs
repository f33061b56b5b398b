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
        let text = String::deserialize(d)?;
        ConfigDuration::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: expected a number and a unit (ms, s, m, h, d, w), e.g. 8s"
            ))
        })
    }
}
