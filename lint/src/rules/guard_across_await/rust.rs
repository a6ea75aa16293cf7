//! The Rust checker.

use crate::rust::RustContext;

/// Checks one file.
pub(crate) fn check(_context: &mut RustContext<'_>) {}
