//! Identifier newtypes. Each is parsed once and cannot hold an invalid value: 1 to 64
//! characters of lowercase ASCII letters, digits, `-`, `_` and `.`, starting with a letter
//! or digit. The same rule applies to agency, purpose, category and protocol ids so they
//! are safe in URIs, log fields and file names.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 64 characters (got {0})")]
    TooLong(usize),
    #[error("must start with a lowercase letter or digit")]
    BadStart,
    #[error("may contain only lowercase letters, digits, '-', '_' and '.' (found {0:?})")]
    BadChar(char),
}

fn check_id(s: &str) -> Result<(), IdError> {
    let first = s.chars().next().ok_or(IdError::Empty)?;
    if s.len() > 64 {
        return Err(IdError::TooLong(s.len()));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(IdError::BadStart);
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(IdError::BadChar(c));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates an identifier.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check_id(s)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A signatory agency, e.g. `west-midlands-police`.
    AgencyId
);
id_type!(
    /// A purpose defined by a protocol, e.g. `s47-enquiry`.
    PurposeId
);
id_type!(
    /// A data category defined by a protocol, e.g. `offending-history`.
    CategoryId
);
id_type!(
    /// A protocol, e.g. `sandwell-scsp-isp`.
    ProtocolId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slugs_and_rejects_everything_else() {
        assert!(AgencyId::parse("west-midlands-police").is_ok());
        assert!(CategoryId::parse("a.b_c-1").is_ok());
        assert_eq!(AgencyId::parse(""), Err(IdError::Empty));
        assert_eq!(AgencyId::parse("-x"), Err(IdError::BadStart));
        assert_eq!(AgencyId::parse("Police"), Err(IdError::BadStart));
        assert_eq!(AgencyId::parse("a b"), Err(IdError::BadChar(' ')));
        assert_eq!(AgencyId::parse(&"a".repeat(65)), Err(IdError::TooLong(65)));
    }
}
