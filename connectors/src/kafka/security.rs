//! `[source.security]`: how every Kafka client of a pipeline authenticates
//! and encrypts (the consumer, the replay reader, the dead-letter producer,
//! topic admin, and `ember produce --pipeline`).
//!
//! ```toml
//! [source.security]
//! protocol = "SASL_SSL"            # PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
//! sasl_mechanism = "SCRAM-SHA-512" # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
//! username = "ember"
//! password_file = "/run/secrets/kafka"   # or password = "…", or EMBER_SOURCE__SECURITY__PASSWORD
//! ca_file = "/etc/ember/kafka-ca.pem"    # PEM; default: the system's trust store
//! # cert_file / key_file / key_password: a client certificate (mutual TLS)
//! # verify_hostname = true
//! ```

use std::path::PathBuf;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Kafka's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityProtocol {
    #[default]
    #[serde(rename = "PLAINTEXT", alias = "plaintext")]
    Plaintext,
    #[serde(rename = "SSL", alias = "ssl")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT", alias = "sasl_plaintext")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL", alias = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// Kafka's `sasl.mechanism` (the ones that need no Kerberos or OAuth server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN", alias = "plain")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512", alias = "scram-sha-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `[source.security]` settings that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaSecurityError {
    #[error("protocol {} needs sasl_mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", protocol.as_str())]
    NoMechanism { protocol: SecurityProtocol },
    #[error("protocol {} needs a username", protocol.as_str())]
    NoUsername { protocol: SecurityProtocol },
    #[error("protocol {} needs a password (password, password_file or EMBER_SOURCE__SECURITY__PASSWORD)", protocol.as_str())]
    NoPassword { protocol: SecurityProtocol },
    #[error("sasl_mechanism/username are set but protocol {} does not use SASL (SASL_SSL or SASL_PLAINTEXT)", protocol.as_str())]
    SaslWithoutSasl { protocol: SecurityProtocol },
    #[error("{key} is set but protocol {} does not use TLS (SSL or SASL_SSL)", protocol.as_str())]
    TlsWithoutTls {
        key: &'static str,
        protocol: SecurityProtocol,
    },
    #[error("{key}: {} does not exist", file.display())]
    MissingFile { key: &'static str, file: PathBuf },
    #[error("cert_file and key_file go together")]
    CertWithoutKey,
}

/// Authentication and encryption of the Kafka connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSecurity {
    /// `security.protocol`.
    #[serde(default)]
    pub protocol: SecurityProtocol,
    /// Required with the SASL protocols.
    #[serde(default)]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// The SASL user; required with the SASL protocols.
    #[serde(default)]
    pub username: Option<String>,
    /// Never printed; prefer `password_file` or `EMBER_SOURCE__SECURITY__PASSWORD`
    /// to keeping it in the pipeline file.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (trailing newline ignored), read when
    /// the pipeline loads: how container secrets are usually mounted.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// CA certificate(s), PEM, that sign the brokers' certificates.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that require mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Password of an encrypted `key_file`.
    #[serde(default)]
    pub key_password: Option<Secret>,
    /// Check that the broker's certificate names the host connected to.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
}

fn default_true() -> bool {
    true
}

impl Default for KafkaSecurity {
    fn default() -> Self {
        KafkaSecurity {
            protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

impl KafkaSecurity {
    /// Consistency of the settings, with the key at fault named.
    pub fn validate(&self) -> Result<(), KafkaSecurityError> {
        let protocol = self.protocol;
        if protocol.uses_sasl() {
            if self.sasl_mechanism.is_none() {
                return Err(KafkaSecurityError::NoMechanism { protocol });
            }
            if self.username.as_deref().is_none_or(str::is_empty) {
                return Err(KafkaSecurityError::NoUsername { protocol });
            }
            if self.password.is_none() {
                return Err(KafkaSecurityError::NoPassword { protocol });
            }
        } else if self.sasl_mechanism.is_some() || self.username.is_some() {
            return Err(KafkaSecurityError::SaslWithoutSasl { protocol });
        }
        let tls_files = [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ];
        for (key, file) in tls_files {
            if let Some(file) = file {
                if !protocol.uses_tls() {
                    return Err(KafkaSecurityError::TlsWithoutTls { key, protocol });
                }
                if !file.is_file() {
                    return Err(KafkaSecurityError::MissingFile {
                        key,
                        file: file.clone(),
                    });
                }
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(KafkaSecurityError::CertWithoutKey);
        }
        Ok(())
    }

    /// Sets the librdkafka properties. Called for every client, before the
    /// user's `options` (which may refine, e.g. `ssl.cipher.suites`).
    pub fn apply(&self, config: &mut ClientConfig) {
        config.set("security.protocol", self.protocol.as_str());
        if self.protocol.uses_sasl() {
            if let Some(m) = self.sasl_mechanism {
                config.set("sasl.mechanism", m.as_str());
            }
            if let Some(u) = &self.username {
                config.set("sasl.username", u);
            }
            if let Some(p) = &self.password {
                config.set("sasl.password", p.expose());
            }
        }
        if self.protocol.uses_tls() {
            let path = |p: &PathBuf| p.to_string_lossy().into_owned();
            if let Some(ca) = &self.ca_file {
                config.set("ssl.ca.location", path(ca));
            }
            if let Some(cert) = &self.cert_file {
                config.set("ssl.certificate.location", path(cert));
            }
            if let Some(key) = &self.key_file {
                config.set("ssl.key.location", path(key));
            }
            if let Some(pw) = &self.key_password {
                config.set("ssl.key.password", pw.expose());
            }
            config.set(
                "ssl.endpoint.identification.algorithm",
                if self.verify_hostname {
                    "https"
                } else {
                    "none"
                },
            );
        }
    }

    /// One line for `ember check` and logs: never the password.
    pub fn describe(&self) -> String {
        let mut out = self.protocol.as_str().to_string();
        if self.protocol.uses_sasl() {
            out.push_str(&format!(
                " {} user {} password {}",
                self.sasl_mechanism.map_or("?", SaslMechanism::as_str),
                self.username.as_deref().unwrap_or("?"),
                if self.password.is_some() {
                    "set (***)"
                } else {
                    "missing"
                }
            ));
        }
        if self.protocol.uses_tls() {
            match &self.ca_file {
                Some(ca) => out.push_str(&format!(", CA {}", ca.display())),
                None => out.push_str(", CA: system trust store"),
            }
            if let Some(cert) = &self.cert_file {
                out.push_str(&format!(", client cert {}", cert.display()));
            }
            if !self.verify_hostname {
                out.push_str(", hostname not verified");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl() -> KafkaSecurity {
        KafkaSecurity {
            protocol: SecurityProtocol::SaslPlaintext,
            sasl_mechanism: Some(SaslMechanism::ScramSha256),
            username: Some("u".into()),
            password: Some(Secret::new("kafka-pw-unit")),
            ..Default::default()
        }
    }

    #[test]
    fn sasl_settings_reach_librdkafka_but_not_debug() {
        let s = sasl();
        assert!(s.validate().is_ok());
        let mut c = ClientConfig::new();
        s.apply(&mut c);
        assert_eq!(c.get("security.protocol"), Some("SASL_PLAINTEXT"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(c.get("sasl.password"), Some("kafka-pw-unit"));
        assert!(!format!("{s:?}").contains("kafka-pw-unit"));
        assert!(!s.describe().contains("kafka-pw-unit"));
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let mut s = sasl();
        s.password = None;
        assert!(s.validate().unwrap_err().to_string().contains("password"));
        let mut s = sasl();
        s.sasl_mechanism = None;
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("sasl_mechanism"));
        let mut s = sasl();
        s.protocol = SecurityProtocol::Plaintext;
        assert!(s.validate().is_err());
        let mut s = sasl();
        s.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("does not use TLS"));
        s.protocol = SecurityProtocol::SaslSsl;
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
    }

    #[test]
    fn default_is_plaintext() {
        let s = KafkaSecurity::default();
        assert!(s.validate().is_ok());
        let mut c = ClientConfig::new();
        s.apply(&mut c);
        assert_eq!(c.get("security.protocol"), Some("PLAINTEXT"));
        assert_eq!(c.get("sasl.password"), None);
    }
}
