//! Ember's connectors, each in a module of its own: `kafka` (the source,
//! the producer used for ingestion, topic administration), `cassandra` (the
//! sink, a DataFusion table whose `INSERT INTO` upserts) and `http` (the
//! randomuser-style API client used for ingestion).

pub mod cassandra;
pub mod http;
pub mod kafka;
pub mod secret;
