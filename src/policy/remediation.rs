//! A policy's `remediation` windows: how long a finding of each severity
//! may stay open, for the running-image grace and the overdue alerts.

use crate::model::{ConfigDuration, Severity};
use std::collections::BTreeMap;

/// Why a response window could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected a positive whole number and a unit (ms, s, m, h, d, w), e.g. 24h or 7d"
)]
pub struct DurationError(pub String);

/// Parses `90s`, `30m`, `24h`, `7d`, `2w`: the configuration's one
/// duration syntax ([`ConfigDuration`]), as a signed span. Zero is
/// refused: a window or an age limit of nothing is a mistake.
pub fn parse_duration(text: &str) -> Result<jiff::SignedDuration, DurationError> {
    ConfigDuration::parse(text)
        .filter(|d| !d.get().is_zero())
        .and_then(|d| jiff::SignedDuration::try_from(d.get()).ok())
        .ok_or_else(|| DurationError(text.to_string()))
}

/// How long a finding of each severity may stay open.
pub type ResponseWindows = BTreeMap<Severity, jiff::SignedDuration>;

/// Reads a policy's `remediation` map (`CRITICAL: 24h`).
pub fn response_windows(
    remediation: &BTreeMap<Severity, String>,
) -> Result<ResponseWindows, DurationError> {
    remediation
        .iter()
        .map(|(severity, text)| Ok((*severity, parse_duration(text)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("24h").unwrap().as_secs(), 86_400);
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 604_800);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 1_209_600);
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        for bad in [
            "",
            "h",
            "7",
            "7y",
            "-1d",
            "-7d",
            "7days",
            "0s",
            "0d",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
