//! Trivy's severity and advisory status enums. Stored as integers in the
//! database (trivy-db `types.Severity`, `types.Status`, both `iota`
//! counted); a number outside the enum is refused rather than guessed.

use super::TrivyError;

/// trivy-db `types.Severity`, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrivySeverity {
    Unknown = 0,
    Low = 1,
    Medium = 2,
    High = 3,
    Critical = 4,
}

impl TrivySeverity {
    pub fn from_number(n: i64) -> Result<Self, TrivyError> {
        Ok(match n {
            0 => Self::Unknown,
            1 => Self::Low,
            2 => Self::Medium,
            3 => Self::High,
            4 => Self::Critical,
            _ => {
                return Err(TrivyError::UnknownSeverity {
                    value: n.to_string(),
                });
            }
        })
    }

    /// The upper-case name trivy-db uses (`SeverityNames`).
    pub fn from_name(name: &str) -> Result<Self, TrivyError> {
        Ok(match name {
            "UNKNOWN" => Self::Unknown,
            "LOW" => Self::Low,
            "MEDIUM" => Self::Medium,
            "HIGH" => Self::High,
            "CRITICAL" => Self::Critical,
            _ => {
                return Err(TrivyError::UnknownSeverity {
                    value: name.to_owned(),
                });
            }
        })
    }
}

/// trivy-db `types.Status`, in its order. Absent means `Unknown`; an
/// advisory with a fixed version is fixed whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrivyStatus {
    Unknown = 0,
    NotAffected = 1,
    Affected = 2,
    Fixed = 3,
    UnderInvestigation = 4,
    WillNotFix = 5,
    FixDeferred = 6,
    EndOfLife = 7,
}

impl TrivyStatus {
    pub fn from_number(n: i64) -> Result<Self, TrivyError> {
        Ok(match n {
            0 => Self::Unknown,
            1 => Self::NotAffected,
            2 => Self::Affected,
            3 => Self::Fixed,
            4 => Self::UnderInvestigation,
            5 => Self::WillNotFix,
            6 => Self::FixDeferred,
            7 => Self::EndOfLife,
            _ => return Err(TrivyError::UnknownStatus { value: n }),
        })
    }

    /// trivy-db's name for the status (`types.Statuses`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::NotAffected => "not_affected",
            Self::Affected => "affected",
            Self::Fixed => "fixed",
            Self::UnderInvestigation => "under_investigation",
            Self::WillNotFix => "will_not_fix",
            Self::FixDeferred => "fix_deferred",
            Self::EndOfLife => "end_of_life",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_trivy_db_order_and_outsiders_are_refused() {
        let names: Vec<_> = (0..8)
            .map(|n| TrivyStatus::from_number(n).map(TrivyStatus::name))
            .collect::<Result<_, _>>()
            .expect("0..8 are statuses");
        assert_eq!(
            names,
            [
                "unknown",
                "not_affected",
                "affected",
                "fixed",
                "under_investigation",
                "will_not_fix",
                "fix_deferred",
                "end_of_life"
            ]
        );
        assert!(TrivyStatus::from_number(8).is_err());
        assert!(TrivyStatus::from_number(-1).is_err());
        assert_eq!(
            TrivySeverity::from_number(3).ok(),
            Some(TrivySeverity::High)
        );
        assert_eq!(
            TrivySeverity::from_name("CRITICAL").ok(),
            Some(TrivySeverity::Critical)
        );
        assert!(TrivySeverity::from_number(5).is_err());
        assert!(TrivySeverity::from_name("high").is_err());
    }
}
