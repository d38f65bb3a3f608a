//! The `ember` command line: configuration loading, ingestion, and the
//! wiring of connectors into the engine. The binary (`main.rs`) only parses
//! arguments and prints.

pub mod authoring;
pub mod config;
pub mod ingest;
pub mod observe;
pub mod query;
pub mod runner;
