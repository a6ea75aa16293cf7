//! ctxlint finds context-propagation bugs: context values set and never restored, guards
//! held across `.await`, thread-locals used as task state, and work spawned without the
//! caller's context.
//!
//! The data path is discovery → parse (one front end per language) → index → rules →
//! diagnostics → printers; [`linter::check`] runs it, [`cli::run`] wraps it for the binary.
#![deny(missing_docs)]

pub mod cli;
pub mod diagnostic;
pub mod discovery;
pub mod error;
mod file_context;
pub mod language;
pub mod linter;
pub mod printer;
mod python;
pub mod registry;
mod rules;
mod rust;
pub mod settings;
pub mod source;
mod suppression;
mod test_paths;

pub use error::Error;
pub use registry::Rule;
