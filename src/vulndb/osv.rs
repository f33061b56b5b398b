//! The OSV record schema (ossf/osv-schema), read leniently and lean:
//! unknown fields are skipped, ecosystems, range types and severity types
//! are plain strings (a newer export never fails the whole load), strings
//! are borrowed from the record's bytes where they hold no escapes, and
//! only what the database keeps is read (`details`, `references` and the
//! free-form `database_specific` / `ecosystem_specific` objects are
//! skipped, except the one severity field each may carry).

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A string borrowed from the input when it holds no escapes (serde only
/// borrows a bare `Cow` field by itself, never inside `Option` or `Vec`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Str<'a>, D::Error> {
        d.deserialize_str(StrVisitor)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Str<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(v)))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Record<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(default, borrow)]
    pub modified: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub published: Option<Str<'a>>,
    /// Present (with any value but `null`) on withdrawn records.
    #[serde(default)]
    pub withdrawn: Option<IgnoredAny>,
    #[serde(default, borrow)]
    pub aliases: Vec<Str<'a>>,
    #[serde(default, borrow)]
    pub upstream: Vec<Str<'a>>,
    #[serde(default, borrow)]
    pub summary: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub severity: Vec<SeverityEntry<'a>>,
    #[serde(default, borrow)]
    pub affected: Vec<Affected<'a>>,
    /// `database_specific.severity` when it is a string.
    #[serde(
        default,
        rename = "database_specific",
        deserialize_with = "severity_label"
    )]
    pub database_severity: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeverityEntry<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub score: Str<'a>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Affected<'a> {
    #[serde(default, borrow)]
    pub package: Option<PackageId<'a>>,
    #[serde(default, borrow)]
    pub severity: Vec<SeverityEntry<'a>>,
    #[serde(default, borrow)]
    pub ranges: Vec<Range<'a>>,
    #[serde(default, borrow)]
    pub versions: Vec<Str<'a>>,
    /// `ecosystem_specific.urgency` (Debian) when it is a string.
    #[serde(
        default,
        rename = "ecosystem_specific",
        deserialize_with = "urgency_label"
    )]
    pub urgency: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PackageId<'a> {
    #[serde(default, borrow)]
    pub ecosystem: Str<'a>,
    #[serde(default, borrow)]
    pub name: Str<'a>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Range<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Str<'a>,
    #[serde(default, borrow)]
    pub events: Vec<Event<'a>>,
}

/// One event; exactly one field is set in valid data.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Event<'a> {
    #[serde(default, borrow)]
    pub introduced: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub fixed: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub last_affected: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub limit: Option<Str<'a>>,
}

fn severity_label<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(PickString { key: "severity" })
}

fn urgency_label<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(PickString { key: "urgency" })
}

/// Takes the string value of `key` from whatever JSON value is there:
/// any other shape (not an object, the key missing, not a string) is `None`,
/// never an error, and the rest is skipped without being built.
struct PickString {
    key: &'static str,
}

/// Deserializes an object key and tells whether it is the wanted one.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// The `Visitor` methods that answer `None` to a scalar, null or list
/// (skipping the list): both lenient visitors below want only a string or
/// a map and must not fail on any other shape.
macro_rules! ignore_scalars_and_lists {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
}

/// A string, or `None` for any other value.
struct AnyString;

impl<'de> Visitor<'de> for AnyString {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    ignore_scalars_and_lists!();
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(None)
    }
}

impl<'de> DeserializeSeed<'de> for AnyString {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PickString {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(wanted) = map.next_key_seed(KeyIs(self.key))? {
            if wanted && found.is_none() {
                found = map.next_value_seed(AnyString)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    ignore_scalars_and_lists!();
}

#[cfg(test)]
mod tests {
    use super::Record;

    #[test]
    fn severity_fields_are_picked_from_any_shape() {
        let r: Record = serde_json::from_str(
            r#"{"id":"X","details":"long","database_specific":{"cwe_ids":["CWE-1"],"severity":"HIGH"},
                "affected":[{"ecosystem_specific":{"urgency":"low","x":{"y":[1,2]}}},
                            {"ecosystem_specific":[1]},{"ecosystem_specific":null},{}]}"#,
        )
        .unwrap();
        assert_eq!(r.database_severity.as_deref(), Some("HIGH"));
        let urgencies: Vec<Option<&str>> =
            r.affected.iter().map(|a| a.urgency.as_deref()).collect();
        assert_eq!(urgencies, [Some("low"), None, None, None]);
        for odd in [r#""text""#, "7", "null", "[{}]", r#"{"severity":3}"#] {
            let json = format!(r#"{{"id":"Y","database_specific":{odd}}}"#);
            let r: Record = serde_json::from_str(&json).unwrap();
            assert_eq!(r.database_severity, None, "{odd}");
        }
        let borrowed: Record =
            serde_json::from_str(r#"{"id":"A","aliases":["CVE-1"],"summary":"x\ny"}"#).unwrap();
        assert!(matches!(
            borrowed.aliases[0].0,
            std::borrow::Cow::Borrowed("CVE-1")
        ));
        assert_eq!(&*borrowed.summary.unwrap(), "x\ny");
        let withdrawn: Record =
            serde_json::from_str(r#"{"id":"Z","withdrawn":"2024-01-01T00:00:00Z"}"#).unwrap();
        assert!(withdrawn.withdrawn.is_some());
    }
}
