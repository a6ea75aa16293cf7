//! Finding the files to lint: `.gitignore`-aware walking of directories; files named on
//! the command line are always linted.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::settings::Settings;

use crate::language::Language;

/// The files under `paths` to lint, sorted and without duplicates.
pub fn discover(paths: &[PathBuf], settings: &Settings) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| Error::Path {
            path: path.clone(),
            source,
        })?;
        if metadata.is_file() {
            files.push(path.clone());
            continue;
        }
        let walker = ignore::WalkBuilder::new(path)
            .hidden(false)
            .git_exclude(true)
            .require_git(false)
            .filter_entry(|entry| !is_skipped_dir(entry))
            .build();
        for entry in walker {
            // Unreadable directories and broken links are skipped like `git` skips them.
            let Ok(entry) = entry else { continue };
            let is_file = entry.file_type().is_some_and(|kind| kind.is_file());
            if is_file
                && has_lintable_extension(entry.path())
                && !settings.is_excluded(entry.path())
            {
                files.push(entry.into_path());
            }
        }
    }
    // `check a .` names `a/x.rs` and `./a/x.rs`: one file, linted once.
    files.sort_by_cached_key(|path| without_dot_components(path));
    files.dedup_by(|a, b| without_dot_components(a) == without_dot_components(b));
    Ok(files)
}

fn without_dot_components(path: &Path) -> PathBuf {
    path.components()
        .filter(|component| *component != std::path::Component::CurDir)
        .collect()
}

/// Directories that hold no code of the project (VCS data, build output, environments);
/// walked only when named on the command line.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    ".venv",
    "venv",
    "__pypackages__",
    "build",
    "dist",
];

fn is_skipped_dir(entry: &ignore::DirEntry) -> bool {
    entry.depth() > 0
        && entry.file_type().is_some_and(|kind| kind.is_dir())
        && entry
            .file_name()
            .to_str()
            .is_some_and(|name| SKIPPED_DIRS.contains(&name))
}

fn has_lintable_extension(path: &Path) -> bool {
    Language::of(path).is_some()
}
