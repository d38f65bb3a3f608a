//! Connecting: contact points, credentials, TLS. The keyspace and table
//! are created in [`super::ddl`].

use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use openssl::ssl::SslContext;

use super::config::{CassandraSinkConfig, CassandraTls};
use super::error::CassandraError;

/// Opens a session to the configured contact points, with the configured
/// credentials and TLS.
pub async fn connect(config: &CassandraSinkConfig) -> Result<Session, CassandraError> {
    let contact_points = config.contact_points.join(",");
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .connection_timeout(Duration::from_secs(10));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.user(user, password.expose());
    }
    if let Some(tls) = config.tls_enabled() {
        let context = tls_context(tls).map_err(|e| CassandraError::Connect {
            contact_points: contact_points.clone(),
            message: e.to_string(),
        })?;
        builder = builder.tls_context(Some(context));
    }
    builder.build().await.map_err(|e| CassandraError::Connect {
        contact_points,
        // The driver's messages name the user, never the password; the
        // scrub is for messages nobody here has seen yet.
        message: crate::secret::scrub(&e.to_string()).into_owned(),
    })
}

/// An OpenSSL client context: the CA (or the system store), an optional
/// client certificate, peer verification always on; `verify_hostname =
/// false` accepts a valid chain whose certificate names another address.
/// A TLS setting OpenSSL refused: what it was, and OpenSSL's errors.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {what}: {source}")]
struct TlsSetupError {
    what: String,
    #[source]
    source: openssl::error::ErrorStack,
}

fn tls_context(tls: &CassandraTls) -> Result<SslContext, TlsSetupError> {
    use openssl::ssl::{SslFiletype, SslMethod, SslVerifyMode};
    let err = |what: &str, source| TlsSetupError {
        what: what.to_string(),
        source,
    };
    let mut b = SslContext::builder(SslMethod::tls_client()).map_err(|e| err("init", e))?;
    match &tls.ca_file {
        Some(ca) => b
            .set_ca_file(ca)
            .map_err(|e| err(&format!("CA file {}", ca.display()), e))?,
        None => b
            .set_default_verify_paths()
            .map_err(|e| err("system trust store", e))?,
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        b.set_certificate_chain_file(cert)
            .map_err(|e| err(&format!("client certificate {}", cert.display()), e))?;
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| err(&format!("client key {}", key.display()), e))?;
        b.check_private_key()
            .map_err(|e| err("client certificate and key do not match", e))?;
    }
    if tls.verify_hostname {
        // The driver sets each node's IP as the name to verify.
        b.set_verify(SslVerifyMode::PEER);
    } else {
        b.set_verify_callback(SslVerifyMode::PEER, |ok, ctx| {
            ok || matches!(
                ctx.error().as_raw(),
                X509_V_ERR_HOSTNAME_MISMATCH | X509_V_ERR_IP_ADDRESS_MISMATCH
            )
        });
    }
    Ok(b.build())
}

/// OpenSSL's `X509_V_ERR_HOSTNAME_MISMATCH` and `X509_V_ERR_IP_ADDRESS_MISMATCH`.
const X509_V_ERR_HOSTNAME_MISMATCH: i32 = 62;
const X509_V_ERR_IP_ADDRESS_MISMATCH: i32 = 64;
