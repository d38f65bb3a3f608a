//! Passwords and other secrets from configuration.
//!
//! A [`Secret`] prints as `***` whichever way it is formatted (`Debug`,
//! `Display`, serialised), so a config struct can be logged or put in an
//! error without leaking it; the value is reached only through
//! [`Secret::expose`], at the one place a client library needs it.
//!
//! Client libraries do not know which of their settings are secret:
//! rdkafka's `ClientConfig` error, for one, prints the offending property's
//! *value*. So every secret is also registered here when it is read, and
//! [`scrub`] replaces any registered value in a text with `***`. The binary
//! runs its log lines and its final error message through it: a last line
//! of defence for messages nobody here wrote.

use std::fmt;
use std::sync::RwLock;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret looks like wherever it is printed.
pub const REDACTED: &str = "***";

/// Values shorter than this are not scrubbed from text: replacing every
/// `a` in the logs would hide more than it protects. (Passwords that short
/// are no protection anyway.)
pub const MIN_SCRUB_LEN: usize = 4;

static REGISTERED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// A password, never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` and registers it for [`scrub`].
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The value, for the client library that needs it. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// Accepts a string (or a number, as an environment override of a
/// numeric password gives). Errors never repeat the value: serde's usual
/// "invalid type: integer `1234`" would print it.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl Visitor<'_> for SecretVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a password as a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom("a password must be a string (value not shown)"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom("a password must be a string (value not shown)"))
            }
        }
        d.deserialize_any(SecretVisitor)
    }
}

/// Remembers `value` so that [`scrub`] hides it.
pub fn register(value: &str) {
    if value.len() < MIN_SCRUB_LEN {
        return;
    }
    if let Ok(mut all) = REGISTERED.write() {
        if !all.iter().any(|v| v == value) {
            all.push(value.to_string());
            // Longest first, so a secret containing another is hidden whole.
            all.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let Ok(all) = REGISTERED.read() else {
        return text.into();
    };
    if !all.iter().any(|s| text.contains(s.as_str())) {
        return text.into();
    }
    let mut out = text.to_string();
    for s in all.iter() {
        out = out.replace(s.as_str(), REDACTED);
    }
    out.into()
}

/// Whether a configuration key names a secret (`sasl.password`,
/// `ssl.key.password`, `client_secret`, `sasl.oauthbearer.client.secret`…):
/// its value is shown as `***` wherever configuration is printed.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    // Where a secret lives is not itself secret.
    if k.ends_with("_file") || k.ends_with(".location") {
        return false;
    }
    ["password", "secret", "passwd", "credential", "token"]
        .iter()
        .any(|w| k.contains(w))
        || k.ends_with(".jaas.config")
        || k == "sasl.jaas.config"
}

/// `value`, or `***` when `key` names a secret.
pub fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) {
        REDACTED
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_hides_the_value() {
        let s = Secret::new("hunter2-xyz");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2-xyz");
    }

    #[test]
    fn deserialising_accepts_numbers_and_never_echoes() {
        #[derive(Deserialize, Debug)]
        struct C {
            password: Secret,
        }
        let c: C = serde_json::from_str(r#"{"password": "pässwörd-1"}"#).unwrap();
        assert_eq!(c.password.expose(), "pässwörd-1");
        let c: C = serde_json::from_str(r#"{"password": 98765432}"#).unwrap();
        assert_eq!(c.password.expose(), "98765432");
        let err = serde_json::from_str::<C>(r#"{"password": 1234.5678}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("1234"), "{err}");
        let err = serde_json::from_str::<C>(r#"{"password": ["sekrit-in-list"]}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("sekrit"), "{err}");
    }

    #[test]
    fn scrub_hides_registered_values() {
        let _ = Secret::new("s3cr3t-for-scrub");
        let _ = Secret::new("s3cr3t-for-scrub-longer");
        assert_eq!(
            scrub("a s3cr3t-for-scrub-longer b s3cr3t-for-scrub c"),
            "a *** b *** c"
        );
        assert_eq!(scrub("nothing here"), "nothing here");
        // Too short to scrub safely.
        register("ab");
        assert_eq!(scrub("abc"), "abc");
    }

    #[test]
    fn secret_keys() {
        for k in [
            "sasl.password",
            "ssl.key.password",
            "SSL.KEYSTORE.PASSWORD",
            "sasl.oauthbearer.client.secret",
            "sasl.jaas.config",
        ] {
            assert!(is_secret_key(k), "{k}");
            assert_eq!(shown(k, "x"), "***");
        }
        for k in [
            "fetch.max.bytes",
            "sasl.username",
            "ssl.ca.location",
            "password_file",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
