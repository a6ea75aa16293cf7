//! Runs every rule fixture: `fixtures/<language>/<rule-name>/*.{rs,py}`, where each line
//! that must produce findings ends with `//~ CODE [CODE ...]` (`#~` in Python). Fails
//! listing, per file, the findings that are missing and the ones nobody expected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ctxlint::linter;
use ctxlint::settings::Settings;

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// `(row, code)` pairs marked in the file with `marker`.
fn expected(text: &str, marker: &str) -> BTreeSet<(usize, String)> {
    let mut expected = BTreeSet::new();
    for (at, line) in text.lines().enumerate() {
        if let Some(start) = line.rfind(marker) {
            for code in line[start + marker.len()..].split_whitespace() {
                expected.insert((at + 1, code.to_string()));
            }
        }
    }
    expected
}

fn fixture_files(language: &str, extension: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(rules) = std::fs::read_dir(fixtures_root().join(language)) else {
        return files;
    };
    for rule in rules.flatten() {
        for file in std::fs::read_dir(rule.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.path().extension().is_some_and(|ext| ext == extension) {
                files.push(file.path());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn rust_fixtures_produce_exactly_the_marked_findings() {
    check_fixtures("rust", "rs", "//~");
}

#[test]
fn python_fixtures_produce_exactly_the_marked_findings() {
    check_fixtures("python", "py", "#~");
}

fn check_fixtures(language: &str, extension: &str, marker: &str) {
    let files = fixture_files(language, extension);
    assert!(!files.is_empty(), "no {language} fixtures found");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("fixture is UTF-8");
        let report =
            linter::check(std::slice::from_ref(file), &Settings::default()).expect("lint runs");
        let actual: BTreeSet<(usize, String)> = report
            .findings
            .iter()
            .map(|f| (f.start.row, f.rule.code().to_string()))
            .collect();
        let expected = expected(&text, marker);
        let missing: Vec<_> = expected.difference(&actual).collect();
        let unexpected: Vec<_> = report
            .findings
            .iter()
            .filter(|f| !expected.contains(&(f.start.row, f.rule.code().to_string())))
            .map(|f| {
                format!(
                    "{}:{} {} {}",
                    f.start.row,
                    f.start.column,
                    f.rule.code(),
                    f.message
                )
            })
            .collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            failures.push(format!(
                "{}\n  missing: {missing:?}\n  unexpected: {unexpected:?}",
                file.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
