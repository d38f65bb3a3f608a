//! Connecting, and creating the keyspace and table when missing.

use std::path::Path;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use openssl::ssl::SslContext;

use super::config::{validate_identifier, validate_replication, CassandraSinkConfig, CassandraTls};

#[derive(Debug, thiserror::Error)]
pub enum CassandraError {
    #[error("cannot connect to Cassandra at {contact_points}: {message}")]
    Connect {
        contact_points: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("{what}: {message}")]
    Schema { what: String, message: String },
}

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
        let context = tls_context(tls).map_err(|message| CassandraError::Connect {
            contact_points: contact_points.clone(),
            message,
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
fn tls_context(tls: &CassandraTls) -> Result<SslContext, String> {
    use openssl::ssl::{SslFiletype, SslMethod, SslVerifyMode};
    let err = |what: &str, e: openssl::error::ErrorStack| format!("TLS: {what}: {e}");
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

/// Creates the keyspace if missing, then runs the table's CQL file if the
/// table is missing.
pub(crate) async fn ensure_table(
    session: &Session,
    config: &CassandraSinkConfig,
    table: &str,
) -> Result<(), CassandraError> {
    let ks = &config.keyspace;
    validate_identifier("keyspace", ks).map_err(CassandraError::Config)?;
    validate_identifier("table", table).map_err(CassandraError::Config)?;
    validate_replication(&config.replication).map_err(CassandraError::Config)?;
    let create_ks = format!(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {}",
        config.replication
    );
    run(session, &create_ks, &format!("create keyspace {ks}")).await?;
    if super::schema::table_exists(session, ks, table).await? {
        return Ok(());
    }
    let Some(file) = &config.create_cql else {
        return Err(CassandraError::Config(format!(
            "table {ks}.{table} does not exist and the sink names no `create_cql` file"
        )));
    };
    session
        .use_keyspace(ks.as_str(), false)
        .await
        .map_err(|e| CassandraError::Schema {
            what: format!("use keyspace {ks}"),
            message: e.to_string(),
        })?;
    for (line, statement) in statements(file)? {
        run(session, &statement, &format!("{}:{line}", file.display())).await?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| CassandraError::Schema {
            what: "schema agreement".into(),
            message: e.to_string(),
        })?;
    if !super::schema::table_exists(session, ks, table).await? {
        return Err(CassandraError::Config(format!(
            "{} ran, but table {ks}.{table} still does not exist: does the file create `{table}`?",
            file.display()
        )));
    }
    Ok(())
}

async fn run(session: &Session, cql: &str, what: &str) -> Result<(), CassandraError> {
    session
        .query_unpaged(cql, ())
        .await
        .map(|_| ())
        .map_err(|e| CassandraError::Schema {
            what: what.into(),
            message: e.to_string(),
        })
}

/// The `;`-separated statements of a CQL file with the line each starts
/// on; `--` and `//` comment lines are dropped.
fn statements(file: &Path) -> Result<Vec<(usize, String)>, CassandraError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CassandraError::Config(format!("cannot read {}: {e}", file.display())))?;
    let mut out = Vec::new();
    let (mut current, mut start) = (String::new(), 0);
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("--") || t.starts_with("//") {
            continue;
        }
        if current.is_empty() {
            start = i + 1;
        }
        current.push_str(line);
        current.push('\n');
        if t.ends_with(';') {
            out.push((start, current.trim().trim_end_matches(';').to_string()));
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_string()));
    }
    Ok(out)
}
