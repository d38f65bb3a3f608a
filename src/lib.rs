//! The `ember` command line: configuration loading, ingestion, and the
//! wiring of connectors into the engine. The binary (`main.rs`) only parses
//! arguments and prints.

pub mod config;
pub mod ingest;
pub mod query;
pub mod runner;
