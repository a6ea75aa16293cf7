//! The languages ctxlint reads, told apart by file extension.

use std::path::Path;

/// A source language with a front end in ctxlint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// `.rs` files, parsed with `syn`.
    Rust,
    /// `.py` and `.pyi` files, parsed with Astral's `ruff_python_parser`.
    Python,
}

impl Language {
    /// The language of `path`, by its extension; `None` for files ctxlint does not read.
    pub fn of(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "rs" => Some(Language::Rust),
            "py" | "pyi" => Some(Language::Python),
            _ => None,
        }
    }
}
