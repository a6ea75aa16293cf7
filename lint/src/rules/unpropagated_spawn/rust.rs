//! The Rust checker.

use crate::rust::{FileIndex, RustContext};

/// Adds this rule's crate-wide facts about one file to its index.
pub(crate) fn collect_facts(_ast: &syn::File, _index: &mut FileIndex) {}

/// Checks one file.
pub(crate) fn check(_context: &mut RustContext<'_>) {}
