//! Kafka topic names, checked once when the configuration loads.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A topic name by Kafka's rule: 1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicName(String);

/// A name Kafka would refuse as a topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid Kafka topic name")]
pub struct InvalidTopicName(pub String);

impl TopicName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The default dead-letter topic of this source topic: `<topic>.dlq`
    /// (refused when that passes Kafka's 249 characters).
    pub fn dead_letters(&self) -> Result<TopicName, InvalidTopicName> {
        TopicName::try_from(format!("{}.dlq", self.0))
    }
}

impl TryFrom<String> for TopicName {
    type Error = InvalidTopicName;

    fn try_from(topic: String) -> Result<Self, InvalidTopicName> {
        let ok = !topic.is_empty()
            && topic.len() <= 249
            && topic != "."
            && topic != ".."
            && topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(TopicName(topic))
        } else {
            Err(InvalidTopicName(topic))
        }
    }
}

impl TryFrom<&str> for TopicName {
    type Error = InvalidTopicName;

    fn try_from(topic: &str) -> Result<Self, InvalidTopicName> {
        TopicName::try_from(topic.to_string())
    }
}

impl From<TopicName> for String {
    fn from(topic: TopicName) -> String {
        topic.0
    }
}

impl std::ops::Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules() {
        for ok in ["users_created", "a.b-c_D9", &"t".repeat(249)] {
            assert!(TopicName::try_from(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "t;x", "dlq/x", &"t".repeat(250)] {
            assert!(TopicName::try_from(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TopicName::try_from("a b").unwrap_err().to_string(),
            "\"a b\" is not a valid Kafka topic name"
        );
        let long = TopicName::try_from("t".repeat(246)).unwrap();
        assert!(long.dead_letters().is_err());
        assert_eq!(
            TopicName::try_from("in").unwrap().dead_letters().unwrap(),
            "in.dlq"
        );
    }
}
