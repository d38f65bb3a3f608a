//! Whose fault a failed Cassandra request is: the cluster's (it passes:
//! retry), the pipeline's (it will fail for every record: stop), or the
//! rows' (narrow it down to them and dead-letter them).
//!
//! The distinction matters most where it is least visible: with one-record
//! batches, "every row of the batch fails" is one row, so a sink error that
//! is really the pipeline's — a role without MODIFY, a dropped table or
//! column — would dead-letter and commit every good record, one by one.

use scylla::errors::{DbError, ExecutionError, RequestAttemptError};

/// Whose fault a failed write is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Timeouts, unavailability, overload, lost connections: retried, and
    /// once `retry_for` has passed the sink is unavailable.
    Transient,
    /// Cassandra refuses the request whatever the values: permissions,
    /// authentication, a statement that no longer prepares or parses, a
    /// table or column that is gone. No record causes it.
    Pipeline,
    /// Cassandra rejects these rows' values (a key too long, a value that
    /// does not serialise to the column's type).
    Rows,
}

/// Classifies a request's error.
pub(crate) fn fault_of(e: &ExecutionError) -> Fault {
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, message)) => match db {
            DbError::SyntaxError
            | DbError::AuthenticationError
            | DbError::Unauthorized
            | DbError::ConfigError
            | DbError::ProtocolError
            | DbError::AlreadyExists { .. } => Fault::Pipeline,
            DbError::Invalid if invalid_names_the_schema(message) => Fault::Pipeline,
            DbError::Invalid | DbError::FunctionFailure { .. } => Fault::Rows,
            _ => Fault::Transient,
        },
        // The driver re-prepares a statement Cassandra forgot (after a
        // schema change); failing that, the statement itself is broken.
        ExecutionError::PrepareError(_) => Fault::Pipeline,
        ExecutionError::LastAttemptError(RequestAttemptError::SerializationError(_))
        | ExecutionError::BadQuery(_) => Fault::Rows,
        _ => Fault::Transient,
    }
}

/// Cassandra reports a missing table or column and a bad value with the
/// same code (`Invalid`); only the message tells them apart. This is the
/// one place that reads it (the classification here, and the prepare that
/// waits for a table just created): the phrases Cassandra 4 and 5 use for
/// schema that is not there.
pub(crate) fn invalid_names_the_schema(message: &str) -> bool {
    const SCHEMA_PHRASES: [&str; 5] = [
        "unconfigured table",
        "undefined column name",
        "unknown identifier",
        "does not exist",
        "no keyspace has been specified",
    ];
    let message = message.to_ascii_lowercase();
    SCHEMA_PHRASES.iter().any(|phrase| message.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(error: DbError, message: &str) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(error, message.into()))
    }

    #[test]
    fn permissions_syntax_and_missing_schema_are_the_pipelines() {
        for e in [
            db(
                DbError::Unauthorized,
                "User ember has no MODIFY permission on <table ks.t>",
            ),
            db(DbError::SyntaxError, "line 1:7 no viable alternative"),
            db(DbError::Invalid, "unconfigured table created_users"),
            db(
                DbError::Invalid,
                "Undefined column name email in table ks.t",
            ),
            db(DbError::Invalid, "Keyspace ks does not exist"),
        ] {
            assert_eq!(fault_of(&e), Fault::Pipeline, "{e}");
        }
    }

    #[test]
    fn bad_values_are_the_rows() {
        for e in [
            db(
                DbError::Invalid,
                "Key length of 70000 is longer than maximum of 65535",
            ),
            db(
                DbError::Invalid,
                "Invalid null value in condition for column id",
            ),
        ] {
            assert_eq!(fault_of(&e), Fault::Rows, "{e}");
        }
    }

    #[test]
    fn an_unavailable_cluster_is_transient() {
        let e = db(
            DbError::Unavailable {
                consistency: scylla::statement::Consistency::One,
                required: 1,
                alive: 0,
            },
            "Cannot achieve consistency level ONE",
        );
        assert_eq!(fault_of(&e), Fault::Transient);
        assert_eq!(
            fault_of(&db(DbError::Overloaded, "overloaded")),
            Fault::Transient
        );
    }
}
