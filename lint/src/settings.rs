//! Configuration: `ctxlint.toml`, or `[package.metadata.ctxlint]` /
//! `[workspace.metadata.ctxlint]` in the nearest `Cargo.toml`, or `[tool.ctxlint]` in the
//! nearest `pyproject.toml`, then command-line overrides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::error::Error;
use crate::registry::{parse_rule_list, Rule, RuleSet};

/// The keys a configuration may set. Unknown keys are errors, so typos never go unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    select: Option<Vec<String>>,
    ignore: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    per_file_ignores: Option<BTreeMap<String, Vec<String>>>,
    extra_spawn_functions: Option<Vec<String>>,
    extra_carriers: Option<Vec<String>>,
    extra_executors: Option<Vec<String>>,
}

/// Everything a run needs to know besides the paths.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The rules that run.
    pub rules: RuleSet,
    /// Paths (or file names) that discovery skips.
    pub exclude: GlobSet,
    /// Rules switched off for files matching a glob.
    pub per_file_ignores: Vec<(GlobSet, RuleSet)>,
    /// More functions that hand work to another thread or task (full paths).
    pub extra_spawn_functions: Vec<String>,
    /// More functions or methods that carry context into spawned work.
    pub extra_carriers: Vec<String>,
    /// Python: executor classes or factories known to run submitted work in a copy of the
    /// submitter's context (so submitting to them is not CTX003).
    pub extra_executors: Vec<String>,
    /// The configuration file the settings came from.
    pub config_path: Option<PathBuf>,
    /// The directory `exclude` and `per-file-ignores` patterns are relative to: the
    /// configuration file's directory, resolved once.
    pub(crate) base: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rules: RuleSet::all(),
            exclude: GlobSet::empty(),
            per_file_ignores: Vec::new(),
            extra_spawn_functions: Vec::new(),
            extra_carriers: Vec::new(),
            extra_executors: Vec::new(),
            config_path: None,
            base: None,
        }
    }
}

/// Command-line choices that override the configuration.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--select`: replaces the configured selection.
    pub select: Option<RuleSet>,
    /// `--ignore`: removed from the selection.
    pub ignore: RuleSet,
}

impl Settings {
    /// Loads `config` (or the configuration found from `start` upwards) and applies `overrides`.
    pub fn load(
        config: Option<&Path>,
        start: &Path,
        overrides: &Overrides,
    ) -> Result<Settings, Error> {
        let found = match config {
            Some(path) if path.file_name().is_some_and(|name| name == "Cargo.toml") => {
                let file = read_cargo_metadata(path)?.ok_or_else(|| Error::Config {
                    path: path.to_path_buf(),
                    message: "no [package.metadata.ctxlint] or [workspace.metadata.ctxlint] table"
                        .to_string(),
                })?;
                Some((path.to_path_buf(), file))
            }
            Some(path)
                if path
                    .file_name()
                    .is_some_and(|name| name == "pyproject.toml") =>
            {
                let file = read_pyproject(path)?.ok_or_else(|| Error::Config {
                    path: path.to_path_buf(),
                    message: "no [tool.ctxlint] table".to_string(),
                })?;
                Some((path.to_path_buf(), file))
            }
            Some(path) => Some((path.to_path_buf(), read_config(path)?)),
            None => find_config(start)?,
        };
        let mut settings = match found {
            Some((path, file)) => Settings::from_file(&path, file)?,
            None => Settings::default(),
        };
        if let Some(select) = overrides.select {
            settings.rules = select;
        }
        for rule in overrides.ignore.iter() {
            settings.rules.remove(rule);
        }
        Ok(settings)
    }

    fn from_file(path: &Path, file: ConfigFile) -> Result<Settings, Error> {
        let config_error = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let rules_of = |key: &str, list: &[String]| {
            parse_rule_list(&list.join(","))
                .map_err(|unknown| config_error(format!("`{key}`: {unknown}")))
        };
        let mut rules = match &file.select {
            Some(select) => rules_of("select", select)?,
            None => RuleSet::all(),
        };
        if let Some(ignore) = &file.ignore {
            for rule in rules_of("ignore", ignore)?.iter() {
                rules.remove(rule);
            }
        }
        let exclude = globs(file.exclude.as_deref().unwrap_or_default())
            .map_err(|message| config_error(format!("`exclude`: {message}")))?;
        let mut per_file_ignores = Vec::new();
        for (pattern, list) in file.per_file_ignores.unwrap_or_default() {
            let key = format!("per-file-ignores.\"{pattern}\"");
            let glob = globs(std::slice::from_ref(&pattern))
                .map_err(|message| config_error(format!("`{key}`: {message}")))?;
            per_file_ignores.push((glob, rules_of(&key, &list)?));
        }
        Ok(Settings {
            rules,
            exclude,
            per_file_ignores,
            extra_spawn_functions: file.extra_spawn_functions.unwrap_or_default(),
            extra_carriers: file.extra_carriers.unwrap_or_default(),
            extra_executors: file.extra_executors.unwrap_or_default(),
            config_path: Some(path.to_path_buf()),
            base: path.parent().and_then(|dir| {
                std::fs::canonicalize(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
                .ok()
            }),
        })
    }

    /// The rules that run on `path` (the selection minus its per-file ignores).
    pub fn rules_for(&self, path: &Path) -> RuleSet {
        let mut rules = self.rules;
        for (glob, ignored) in &self.per_file_ignores {
            if self.matches(glob, path) {
                for rule in ignored.iter() {
                    rules.remove(rule);
                }
            }
        }
        // A file that cannot be read or parsed is always reported.
        rules.insert(Rule::SyntaxError);
        rules
    }

    /// Whether discovery skips `path`.
    pub fn is_excluded(&self, path: &Path) -> bool {
        self.matches(&self.exclude, path)
    }

    /// Matches the path relative to the configuration file's directory (however it was
    /// spelled on the command line), the path as walked, and the file name.
    fn matches(&self, glob: &GlobSet, path: &Path) -> bool {
        if glob.is_empty() {
            return false;
        }
        let relative = path.strip_prefix(".").unwrap_or(path);
        let from_base = self.base.as_deref().and_then(|base| {
            let absolute = std::fs::canonicalize(path).ok()?;
            absolute.strip_prefix(base).ok().map(Path::to_path_buf)
        });
        glob.is_match(path)
            || glob.is_match(relative)
            || from_base.is_some_and(|from_base| glob.is_match(from_base))
            || path.file_name().is_some_and(|name| glob.is_match(name))
    }
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern).map_err(|error| error.to_string())?);
    }
    builder.build().map_err(|error| error.to_string())
}

/// Walks up from `start` to the first `ctxlint.toml`, or `Cargo.toml` / `pyproject.toml`
/// with a ctxlint table.
fn find_config(start: &Path) -> Result<Option<(PathBuf, ConfigFile)>, Error> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    for dir in start.ancestors() {
        let dedicated = dir.join("ctxlint.toml");
        if dedicated.is_file() {
            return Ok(Some((dedicated.clone(), read_config(&dedicated)?)));
        }
        let cargo = dir.join("Cargo.toml");
        if cargo.is_file() {
            if let Some(file) = read_cargo_metadata(&cargo)? {
                return Ok(Some((cargo, file)));
            }
        }
        let pyproject = dir.join("pyproject.toml");
        if pyproject.is_file() {
            if let Some(file) = read_pyproject(&pyproject)? {
                return Ok(Some((pyproject, file)));
            }
        }
    }
    Ok(None)
}

fn read_config(path: &Path) -> Result<ConfigFile, Error> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::Config {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    toml::from_str(&text).map_err(|error| Error::Config {
        path: path.to_path_buf(),
        message: one_line(&error),
    })
}

/// The ctxlint table of a `Cargo.toml`: `[package.metadata.ctxlint]`, else `[workspace.metadata.ctxlint]`.
fn read_cargo_metadata(path: &Path) -> Result<Option<ConfigFile>, Error> {
    read_embedded_table(path, "[metadata.ctxlint]", |manifest| {
        ["package", "workspace"].iter().find_map(|section| {
            manifest
                .get(*section)?
                .get("metadata")?
                .get("ctxlint")
                .cloned()
        })
    })
}

/// The `[tool.ctxlint]` table of a `pyproject.toml`.
fn read_pyproject(path: &Path) -> Result<Option<ConfigFile>, Error> {
    read_embedded_table(path, "[tool.ctxlint]", |manifest| {
        manifest.get("tool")?.get("ctxlint").cloned()
    })
}

/// The ctxlint table `find` picks out of another tool's TOML file, if it has one.
fn read_embedded_table(
    path: &Path,
    name: &str,
    find: impl FnOnce(&toml::Table) -> Option<toml::Value>,
) -> Result<Option<ConfigFile>, Error> {
    let config_error = |message: String| Error::Config {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|error| config_error(error.to_string()))?;
    let manifest: toml::Table =
        toml::from_str(&text).map_err(|error| config_error(one_line(&error)))?;
    match find(&manifest) {
        None => Ok(None),
        Some(table) => ConfigFile::deserialize(table)
            .map(Some)
            .map_err(|error| config_error(format!("{name}: {}", one_line(&error)))),
    }
}

/// toml's errors span several lines with a source excerpt; keep the message line.
fn one_line(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let message = text
        .lines()
        .rfind(|line| !line.trim().is_empty())
        .unwrap_or(&text);
    message.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<Settings, Error> {
        let file: ConfigFile = toml::from_str(text).map_err(|error| Error::Config {
            path: "t.toml".into(),
            message: one_line(&error),
        })?;
        Settings::from_file(Path::new("t.toml"), file)
    }

    #[test]
    fn select_ignore_and_per_file_ignores_apply() {
        let settings = from_toml(
            "select = [\"CTX001\", \"thread-local-in-async\"]\nignore = [\"CTX002\"]\n[per-file-ignores]\n\"tests/*\" = [\"CTX001\"]\n",
        )
        .unwrap();
        assert_eq!(
            settings.rules.iter().collect::<Vec<_>>(),
            [Rule::SetWithoutReset]
        );
        assert!(!settings
            .rules_for(Path::new("tests/a.rs"))
            .contains(Rule::SetWithoutReset));
        assert!(settings
            .rules_for(Path::new("src/a.rs"))
            .contains(Rule::SetWithoutReset));
    }

    #[test]
    fn unknown_keys_and_rules_name_what_is_wrong() {
        let error = from_toml("selcet = [\"CTX001\"]").unwrap_err().to_string();
        assert!(error.contains("selcet"), "{error}");
        let error = from_toml("select = [\"CTX999\"]").unwrap_err().to_string();
        assert!(
            error.contains("select") && error.contains("CTX999"),
            "{error}"
        );
    }
}
