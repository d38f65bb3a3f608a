//! Authoring and operating tools that run the engine's own code paths
//! without the whole pipeline: `ember check` plans the SQL against the sink
//! tables' declared columns, `ember preview` runs the transforms on local
//! records, `ember dead-letters` reads and re-drives the dead-letter topic.

pub mod dead_letters;
pub mod mapping;
pub mod preview;
pub mod records_source;
pub mod sinks;
