//! One module per subcommand: its arguments (as `clap::Args`) and what it does.

pub(crate) mod check;
pub(crate) mod cql;
pub(crate) mod dead_letters;
pub(crate) mod landed;
mod lifecycle;
pub(crate) mod preview;
pub(crate) mod produce;
pub(crate) mod run;
