//! A run: discover files, read each once, parse and index them in parallel, merge the
//! crate-wide facts, check every file, apply suppressions, sort.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use rayon::prelude::*;

use crate::diagnostic::{Diagnostic, Finding};
use crate::discovery;
use crate::error::Error;
use crate::language::Language;
use crate::python::{self, PyFileIndex, PyProjectIndex, PythonContext};
use crate::registry::Rule;
use crate::rules;
use crate::rust::{self, FileIndex, ProjectIndex, RustContext};
use crate::settings::Settings;
use crate::source::SourceFile;
use crate::suppression;

/// Worker stacks: syn and the rules recurse once per nesting level, and `rust::MAX_NESTING`
/// bounds the levels; this leaves a wide margin.
const STACK_SIZE: usize = 64 << 20;

/// The result of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding, sorted by file, row, column and code.
    pub findings: Vec<Finding>,
    /// How many files were checked.
    pub files: usize,
}

/// Lints `paths` with `settings`.
pub fn check(paths: &[PathBuf], settings: &Settings) -> Result<Report, Error> {
    let files = discovery::discover(paths, settings)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .stack_size(STACK_SIZE)
        .build()
        .map_err(|error| Error::ThreadPool(error.to_string()))?;
    pool.install(|| Ok(check_files(&files, settings)))
}

/// A file after the first pass: its text and its index, or the reason it cannot be checked.
struct Loaded {
    source: Arc<SourceFile>,
    /// Which of the run's crates the file belongs to (Rust).
    krate: usize,
    outcome: Result<Indexed, Diagnostic>,
    /// The text was not kept after indexing (`source` holds the path only).
    text_dropped: bool,
}

/// A file whose text the first pass dropped, read again if a name learnt in the first pass
/// makes it a candidate; `None` when it cannot fire (or has gone away since).
fn reread(source: &SourceFile, triggers: &Triggers) -> Option<Arc<SourceFile>> {
    let text = std::fs::read_to_string(source.path()).ok()?;
    triggers
        .names
        .is_match(&text)
        .then(|| Arc::new(SourceFile::new(source.path().to_path_buf(), text)))
}

/// A file's index, by language.
enum Indexed {
    Rust(FileIndex),
    /// A Python syntax tree holds no thread-bound spans, so the first pass's tree is kept
    /// for the second instead of parsing again.
    Python(PyFileIndex, python::Parsed),
}

fn check_files(files: &[PathBuf], settings: &Settings) -> Report {
    let crates = Crates::group(files);
    let fixed_triggers = Triggers::fixed(settings);
    // The first pass keeps a Rust file's text only if the second pass may need it: a file
    // with no fixed trigger word and no suppression can only become a candidate through a
    // name the first pass learns, and is read again then. Peak memory stays with the files
    // that matter, not the size of the tree.
    let keep_text =
        |text: &str| fixed_triggers.is_match(text) || text.contains(suppression::MARKER);
    let loaded: Vec<Loaded> = files
        .par_iter()
        .zip(&crates.of_file)
        .map(|(path, &krate)| load(path, krate, &crates.modules[krate], &keep_text))
        .collect();
    let mut projects = vec![ProjectIndex::default(); crates.modules.len()];
    // Python modules import each other by dotted name, so one index spans the run.
    let mut python_project = PyProjectIndex::default();
    for file in &loaded {
        match &file.outcome {
            Ok(Indexed::Rust(index)) => projects[file.krate].merge(index),
            Ok(Indexed::Python(index, _)) => python_project.merge(index),
            Err(_) => {}
        }
    }
    let triggers = Triggers::new(fixed_triggers, &projects);
    let mut findings: Vec<Finding> = loaded
        .into_par_iter()
        .flat_map_iter(|mut file| {
            if file.text_dropped {
                match reread(&file.source, &triggers) {
                    Some(source) => file.source = source,
                    None => return Vec::new(),
                }
            }
            let enabled = settings.rules_for(file.source.path());
            let source = &file.source;
            let diagnostics = match &file.outcome {
                Ok(Indexed::Rust(index)) if triggers.could_fire(source.text()) => {
                    guarded(source, || {
                        check_rust_file(source, index, &projects[file.krate], settings)
                    })
                }
                Ok(Indexed::Rust(_)) => Vec::new(),
                Ok(Indexed::Python(index, parsed)) => guarded(source, || {
                    check_python_file(source, parsed, index, &python_project, settings)
                }),
                Err(diagnostic) => vec![diagnostic.clone()],
            };
            // A file that could not be read has no suppressions to apply.
            let diagnostics = match &file.outcome {
                Ok(Indexed::Rust(_)) => {
                    suppression::apply(source, suppression::rust_comments, diagnostics, enabled)
                }
                Ok(Indexed::Python(..)) => {
                    suppression::apply(source, python::comment_ranges, diagnostics, enabled)
                }
                Err(_) => diagnostics,
            };
            let diagnostics = diagnostics
                .into_iter()
                .filter(|diagnostic| enabled.contains(diagnostic.rule));
            let source = file.source.clone();
            diagnostics
                .map(move |diagnostic| Finding::new(source.clone(), diagnostic))
                .collect::<Vec<_>>()
        })
        .collect();
    findings.sort_by(|a, b| {
        a.sort_key()
            .cmp(&b.sort_key())
            .then_with(|| a.message.cmp(&b.message))
    });
    Report {
        findings,
        files: files.len(),
    }
}

/// The run's files grouped by crate: crate-wide facts (a thread-local written in async
/// code, a function that logs) only hold inside the crate that declares them, and a run
/// over many crates must not let one crate's `fn compress` stand for another's.
struct Crates {
    /// For each file, its crate (an index into `modules`).
    of_file: Vec<usize>,
    /// For each crate, the module names its files' paths make (`src/repo/migrate.rs` →
    /// `repo`, `migrate`): what a path like `repo::migrate::run()` may start with.
    modules: Vec<Arc<HashSet<String>>>,
}

impl Crates {
    fn group(files: &[PathBuf]) -> Self {
        // A crate is the nearest directory above the file with a `Cargo.toml`; files
        // outside any crate form one group.
        let mut roots: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
        let mut ids: HashMap<Option<PathBuf>, usize> = HashMap::new();
        let mut modules: Vec<HashSet<String>> = Vec::new();
        let mut of_file = Vec::with_capacity(files.len());
        for file in files {
            let dir = file.parent().unwrap_or(Path::new(""));
            let root = crate_root(dir, &mut roots);
            let next = ids.len();
            let id = *ids.entry(root.clone()).or_insert(next);
            if id == modules.len() {
                modules.push(HashSet::new());
            }
            let relative = root
                .as_deref()
                .and_then(|root| file.strip_prefix(root).ok())
                .unwrap_or(file);
            let names = relative
                .parent()
                .into_iter()
                .flat_map(Path::components)
                .filter_map(|component| component.as_os_str().to_str())
                .chain(relative.file_stem().and_then(|stem| stem.to_str()));
            modules[id].extend(names.map(str::to_string));
            of_file.push(id);
        }
        Crates {
            of_file,
            modules: modules.into_iter().map(Arc::new).collect(),
        }
    }
}

/// The nearest directory at or above `dir` holding a `Cargo.toml`, memoised per directory.
fn crate_root(dir: &Path, roots: &mut HashMap<PathBuf, Option<PathBuf>>) -> Option<PathBuf> {
    if let Some(root) = roots.get(dir) {
        return root.clone();
    }
    let root = if dir.join("Cargo.toml").is_file() {
        Some(dir.to_path_buf())
    } else {
        match dir.parent() {
            Some(parent) if !dir.as_os_str().is_empty() => crate_root(parent, roots),
            _ => None,
        }
    };
    roots.insert(dir.to_path_buf(), root.clone());
    root
}

/// Reads, decodes, parses and indexes one file.
fn load(
    path: &Path,
    krate: usize,
    crate_modules: &Arc<HashSet<String>>,
    keep_text: &(dyn Fn(&str) -> bool + Sync),
) -> Loaded {
    let (source, outcome) = match std::fs::read(path) {
        Err(error) => {
            let source = SourceFile::new(path.to_path_buf(), String::new());
            (
                source,
                Err(Diagnostic::new(
                    Rule::SyntaxError,
                    0..0,
                    format!("cannot read file: {error}"),
                )),
            )
        }
        Ok(bytes) => match String::from_utf8(bytes) {
            Err(error) => {
                let at = error.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
                let source = SourceFile::new(path.to_path_buf(), text);
                let message =
                    format!("file is not valid UTF-8 (first invalid byte at offset {at})");
                (
                    source,
                    Err(Diagnostic::new(Rule::SyntaxError, 0..0, message)),
                )
            }
            Ok(text) => {
                let source = SourceFile::new(path.to_path_buf(), text);
                let outcome = guarded_result(&source, || match Language::of(path) {
                    Some(Language::Python) => {
                        let parsed = python::parse(&source);
                        let module = python::index::module_name(path);
                        let index = PyFileIndex::build(&parsed.module, module);
                        Ok(Indexed::Python(index, parsed))
                    }
                    // Discovery only yields files of a known language; a file named on the
                    // command line with another extension is read as Rust.
                    Some(Language::Rust) | None => rust::parse(&source).map(|ast| {
                        Indexed::Rust(rust::macros::with_cache(|| {
                            FileIndex::build(&ast, crate_modules.clone())
                        }))
                    }),
                });
                (source, outcome)
            }
        },
    };
    let text_dropped = matches!(outcome, Ok(Indexed::Rust(_))) && !keep_text(source.text());
    let source = if text_dropped {
        SourceFile::new(source.path().to_path_buf(), String::new())
    } else {
        source
    };
    Loaded {
        source: Arc::new(source),
        krate,
        outcome,
        text_dropped,
    }
}

/// Parses again and runs the rules with the first pass's index (spans are only valid on the
/// thread that parsed them, so the syntax tree is not kept between passes; the index holds
/// byte offsets only).
fn check_rust_file(
    source: &SourceFile,
    index: &FileIndex,
    project: &ProjectIndex,
    settings: &Settings,
) -> Vec<Diagnostic> {
    let ast = match rust::parse(source) {
        Ok(ast) => ast,
        Err(diagnostic) => return vec![diagnostic],
    };
    let mut context = RustContext::new(
        source,
        &ast,
        index,
        project,
        settings,
        settings.rules_for(source.path()),
    );
    rust::macros::with_cache(|| rules::check_rust(&mut context));
    context.into_diagnostics()
}

/// Runs the rules on the first pass's tree. The parser recovers from syntax errors, so a
/// file with one is still checked, and its first error is reported as well.
fn check_python_file(
    source: &SourceFile,
    parsed: &python::Parsed,
    index: &PyFileIndex,
    project: &PyProjectIndex,
    settings: &Settings,
) -> Vec<Diagnostic> {
    let mut context = PythonContext::new(
        source,
        &parsed.module,
        index,
        project,
        settings,
        settings.rules_for(source.path()),
    );
    rules::check_python(&mut context);
    let mut diagnostics = context.into_diagnostics();
    diagnostics.extend(parsed.syntax_error.clone());
    diagnostics
}

/// The words some rule starts from; a file that contains none of them cannot produce a
/// finding, so the second pass (parse again, run every rule) skips it. Every file was parsed
/// once already, so its syntax errors are reported either way.
struct Triggers {
    /// Guards (CTX001, CTX004), spawns (CTX003) and configured functions: known before
    /// the first pass.
    fixed: AhoCorasick,
    /// The names the crate-wide indexes know: context variables (CTX001, CTX003) and
    /// thread-locals (CTX002); known after the first pass.
    names: AhoCorasick,
}

impl Triggers {
    fn fixed(settings: &Settings) -> AhoCorasick {
        let fixed = [
            "enter",
            "attach",
            "set_default",
            "set_guard",
            "forget",
            "spawn",
            "scope",
        ];
        let configured = settings
            .extra_spawn_functions
            .iter()
            .chain(&settings.extra_carriers)
            .filter_map(|path| path.rsplit("::").next());
        automaton(fixed.into_iter().chain(configured))
    }

    fn new(fixed: AhoCorasick, projects: &[ProjectIndex]) -> Self {
        let names = projects
            .iter()
            .flat_map(|project| project.context_vars.iter().chain(&project.thread_locals))
            .map(String::as_str);
        Triggers {
            fixed,
            names: automaton(names),
        }
    }

    fn could_fire(&self, text: &str) -> bool {
        self.fixed.is_match(text) || self.names.is_match(text)
    }
}

fn automaton<'a>(patterns: impl Iterator<Item = &'a str>) -> AhoCorasick {
    let patterns: Vec<&str> = patterns.collect();
    // Building fails only past aho-corasick's size limits; then every file matches.
    AhoCorasick::new(&patterns).unwrap_or_else(|_| AhoCorasick::new([""]).expect("empty pattern"))
}

/// Runs `work` so that a panic becomes a CTX000 finding for this file instead of ending
/// the run; the thread's span table is cleared afterwards so memory stays flat.
fn guarded(source: &SourceFile, work: impl FnOnce() -> Vec<Diagnostic>) -> Vec<Diagnostic> {
    match guarded_result(source, || Ok(work())) {
        Ok(diagnostics) => diagnostics,
        Err(diagnostic) => vec![diagnostic],
    }
}

fn guarded_result<T>(
    source: &SourceFile,
    work: impl FnOnce() -> Result<T, Diagnostic>,
) -> Result<T, Diagnostic> {
    let result = catch_unwind(AssertUnwindSafe(work));
    proc_macro2::extra::invalidate_current_thread_spans();
    result.unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let message = format!(
            "internal error while checking {}: {reason}",
            source.path().display()
        );
        Err(Diagnostic::new(Rule::SyntaxError, 0..0, message))
    })
}
