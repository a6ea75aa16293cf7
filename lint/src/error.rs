//! Errors that stop a run (exit code 2). Problems in linted files are findings, not errors.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::registry::UnknownRule;

/// Why a run could not complete.
#[derive(Debug)]
pub enum Error {
    /// A configuration file is invalid; names the file and what is wrong (e.g. the key).
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A `--select`/`--ignore` entry (or a config list) names no rule.
    UnknownRule(UnknownRule),
    /// A path given on the command line does not exist or cannot be walked.
    Path {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the report failed.
    Output(io::Error),
    /// The worker threads could not be started.
    ThreadPool(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { path, message } => write!(f, "{}: {message}", path.display()),
            Error::UnknownRule(unknown) => unknown.fmt(f),
            Error::Path { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Output(source) => write!(f, "cannot write the report: {source}"),
            Error::ThreadPool(message) => write!(f, "cannot start worker threads: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Path { source, .. } | Error::Output(source) => Some(source),
            Error::UnknownRule(unknown) => Some(unknown),
            Error::Config { .. } | Error::ThreadPool(_) => None,
        }
    }
}

impl From<UnknownRule> for Error {
    fn from(unknown: UnknownRule) -> Self {
        Error::UnknownRule(unknown)
    }
}
