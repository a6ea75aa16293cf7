//! The command line as a user runs it: exit codes, usage and configuration errors,
//! `--select`/`--ignore`, `--exit-zero`, `--quiet`, `--statistics`, discovery, and the
//! `rule` subcommand.

use e2e::{ctxlint, fixtures_dir, Output, TempDir};

/// The rules ctxlint ships, in code order.
const RULES: &[(&str, &str)] = &[
    ("CTX000", "syntax-error"),
    ("CTX001", "set-without-reset"),
    ("CTX002", "thread-local-in-async"),
    ("CTX003", "unpropagated-spawn"),
    ("CTX004", "guard-across-await"),
    ("CTX005", "shared-context-run"),
    ("CTX006", "mutable-context-value"),
    ("CTX100", "unused-suppression"),
];

/// A project with one syntax error and one unused suppression, each in its own file.
fn mixed_project(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    dir.write("broken.rs", "fn broken() {\n    let = 1;\n}\n");
    dir.write(
        "stale.rs",
        "fn stale() -> u32 {\n    1 // ctxlint: ignore[CTX003] reviewed\n}\n",
    );
    dir.write("clean.rs", "pub fn clean() {}\n");
    dir
}

const BROKEN: &str = "broken.rs:2:9 CTX000";
const STALE: &str = "stale.rs:2:7 CTX100";

fn concise(dir: &TempDir, extra: &[&str]) -> Output {
    let mut args = vec!["check", "--output-format", "concise"];
    args.extend_from_slice(extra);
    args.push(".");
    let mut out = ctxlint(dir.path(), &args);
    // Walking `.` prints `./name`; strip it so expectations read like the files.
    out.stdout = out.stdout.replace("./", "");
    out
}

#[track_caller]
fn assert_usage_error(out: &Output, needle: &str) {
    out.assert_code(2);
    assert!(
        out.stdout.is_empty(),
        "a usage error prints nothing on stdout:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains(needle),
        "stderr should mention {needle:?}:\n{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------
// Exit codes

#[test]
fn no_findings_exits_0_and_says_so() {
    let dir = TempDir::new("clean");
    dir.write("a.rs", "pub fn a() {}\n");
    dir.write("src/b.rs", "pub fn b() -> u32 { 2 }\n");
    let out = ctxlint(dir.path(), ["check"]);
    out.assert_code(0);
    assert_eq!(out.stdout, "All checks passed (2 files).\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn findings_exit_1() {
    let dir = mixed_project("findings");
    let out = concise(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), [BROKEN, STALE]);
    assert_eq!(out.stderr, "");
}

#[test]
fn exit_zero_reports_the_findings_but_exits_0() {
    let dir = mixed_project("exit-zero");
    let out = concise(&dir, &["--exit-zero"]);
    out.assert_code(0);
    assert_eq!(out.short(), [BROKEN, STALE]);
}

#[test]
fn full_output_ends_with_a_summary() {
    let dir = mixed_project("summary");
    let out = ctxlint(dir.path(), ["check", "."]);
    out.assert_code(1);
    assert!(
        out.stdout.ends_with("Found 2 findings in 3 files.\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("CTX000 syntax-error"), "{}", out.stdout);
    assert!(
        out.stdout.contains("CTX100 unused-suppression"),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_select_code_is_a_usage_error() {
    let dir = mixed_project("bad-select");
    assert_usage_error(&concise(&dir, &["--select", "CTX999"]), "CTX999");
    assert_usage_error(&concise(&dir, &["--select", "CTX001,nope"]), "nope");
}

#[test]
fn unknown_ignore_name_is_a_usage_error() {
    let dir = mixed_project("bad-ignore");
    assert_usage_error(
        &concise(&dir, &["--ignore", "set-without-rest"]),
        "set-without-rest",
    );
}

#[test]
fn unknown_output_format_is_a_usage_error() {
    let dir = mixed_project("bad-format");
    let out = ctxlint(dir.path(), ["check", "--output-format", "xml", "."]);
    assert_usage_error(&out, "xml");
    assert!(out.stderr.contains("json-lines"), "{}", out.stderr);
}

#[test]
fn unknown_flag_or_missing_subcommand_is_a_usage_error() {
    let dir = mixed_project("bad-flag");
    assert_usage_error(
        &ctxlint(dir.path(), ["check", "--fix-everything"]),
        "--fix-everything",
    );
    assert_usage_error(&ctxlint(dir.path(), ["lint"]), "lint");
    let out = ctxlint(dir.path(), [""; 0]);
    out.assert_code(2);
    assert!(out.stderr.contains("Usage"), "{}", out.stderr);
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let dir = mixed_project("missing-path");
    let out = ctxlint(dir.path(), ["check", "clean.rs", "no/such/file.rs"]);
    assert_usage_error(&out, "no/such/file.rs");
}

#[test]
fn version_and_help_exit_0() {
    let dir = TempDir::new("version");
    let out = ctxlint(dir.path(), ["--version"]);
    out.assert_code(0);
    assert!(out.stdout.starts_with("ctxlint "), "{}", out.stdout);
    let out = ctxlint(dir.path(), ["check", "--help"]);
    out.assert_code(0);
    for flag in [
        "--output-format",
        "--select",
        "--ignore",
        "--exit-zero",
        "--statistics",
        "--config",
        "--quiet",
    ] {
        assert!(
            out.stdout.contains(flag),
            "help lacks {flag}:\n{}",
            out.stdout
        );
    }
}

// ---------------------------------------------------------------------------------------
// Rule selection

#[test]
fn ignore_accepts_codes_and_names() {
    let dir = mixed_project("ignore");
    for ignore in ["CTX100", "ctx100", "unused-suppression", "CTX001,CTX100"] {
        let out = concise(&dir, &["--ignore", ignore]);
        out.assert_code(1);
        assert_eq!(out.short(), [BROKEN], "--ignore {ignore}");
    }
}

#[test]
fn select_accepts_codes_names_and_all() {
    // `stale.rs` suppresses CTX003: it is reported only when CTX003 and CTX100 both run.
    let dir = mixed_project("select");
    for select in [
        "ALL",
        "all",
        "CTX003,CTX100",
        "unpropagated-spawn,unused-suppression",
        "ctx003, CTX100",
        "CTX001,ALL",
    ] {
        let out = concise(&dir, &["--select", select]);
        out.assert_code(1);
        assert_eq!(out.short(), [BROKEN, STALE], "--select {select}");
    }
    for select in ["CTX100", "CTX003", "set-without-reset,CTX100"] {
        let out = concise(&dir, &["--select", select]);
        out.assert_code(1);
        assert_eq!(out.short(), [BROKEN], "--select {select}");
    }
    let out = concise(&dir, &["--select", "ALL", "--ignore", "unused-suppression"]);
    assert_eq!(out.short(), [BROKEN]);
    let out = concise(&dir, &["--select", "ALL", "--ignore", "CTX003"]);
    assert_eq!(out.short(), [BROKEN]);
}

#[test]
fn syntax_errors_are_reported_whatever_the_selection() {
    // A file that cannot be parsed is never silently skipped: CTX000 cannot be deselected.
    let dir = mixed_project("ctx000-always");
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--select", "set-without-reset"], &[BROKEN]),
        (&["--ignore", "CTX000"], &[BROKEN, STALE]),
        (&["--ignore", "syntax-error,CTX100"], &[BROKEN]),
        (
            &["--select", "CTX003,CTX100", "--ignore", "CTX000"],
            &[BROKEN, STALE],
        ),
    ];
    for (extra, expected) in cases {
        let out = concise(&dir, extra);
        out.assert_code(1);
        assert_eq!(out.short(), expected, "{extra:?}");
    }
}

#[test]
fn a_suppression_of_a_rule_that_did_not_run_is_not_stale() {
    let dir = TempDir::new("not-run");
    dir.write(
        "a.rs",
        "fn a() -> u32 {\n    // ctxlint: ignore[CTX001, CTX003] reviewed\n    1\n}\n",
    );
    let out = concise(&dir, &["--select", "CTX003,CTX100"]);
    out.assert_code(1);
    let findings = out.findings();
    assert_eq!(out.short(), ["a.rs:2:5 CTX100"]);
    assert!(findings[0].message.contains("CTX003"), "{findings:?}");
    let out = concise(&dir, &["--select", "set-without-reset,unused-suppression"]);
    let findings = out.findings();
    assert_eq!(out.short(), ["a.rs:2:5 CTX100"]);
    assert!(findings[0].message.contains("CTX001"), "{findings:?}");
    // Without CTX100 nothing reports stale suppressions at all.
    let out = concise(&dir, &["--ignore", "CTX100"]);
    out.assert_code(0);
    assert_eq!(out.stdout, "");
}

#[test]
fn command_line_select_replaces_the_configured_one() {
    let dir = mixed_project("config-select");
    dir.write("ctxlint.toml", "select = [\"CTX001\"]\n");
    assert_eq!(concise(&dir, &[]).short(), [BROKEN]);
    assert_eq!(
        concise(&dir, &["--select", "CTX003,CTX100"]).short(),
        [BROKEN, STALE]
    );
}

#[test]
fn configured_ignore_and_per_file_ignores_apply() {
    let dir = mixed_project("config-ignore");
    dir.write("ctxlint.toml", "ignore = [\"unused-suppression\"]\n");
    assert_eq!(concise(&dir, &[]).short(), [BROKEN]);
    dir.write(
        "ctxlint.toml",
        "[per-file-ignores]\n\"stale.rs\" = [\"CTX100\"]\n\"other/*.rs\" = [\"CTX100\"]\n",
    );
    dir.write("other/stale.rs", "// ctxlint: ignore[CTX002]\nfn f() {}\n");
    dir.write("more/stale2.rs", "// ctxlint: ignore[CTX002]\nfn f() {}\n");
    assert_eq!(
        concise(&dir, &[]).short(),
        [BROKEN, "more/stale2.rs:1:1 CTX100"]
    );
}

#[test]
fn configuration_is_found_in_parent_directories_and_in_cargo_metadata() {
    let dir = mixed_project("config-parent");
    dir.write("sub/stale.rs", "// ctxlint: ignore[CTX002]\nfn f() {}\n");
    dir.write("ctxlint.toml", "ignore = [\"CTX100\"]\n");
    let out = ctxlint(
        dir.path().join("sub"),
        ["check", "--output-format", "concise", "."],
    );
    out.assert_code(0);
    assert_eq!(out.stdout, "");
    // `[package.metadata.ctxlint]` in the nearest Cargo.toml works the same way.
    std::fs::remove_file(dir.path().join("ctxlint.toml")).unwrap();
    dir.write(
        "Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[package.metadata.ctxlint]\nignore = [\"CTX100\"]\n",
    );
    let out = ctxlint(
        dir.path().join("sub"),
        ["check", "--output-format", "concise", "."],
    );
    out.assert_code(0);
    assert_eq!(out.stdout, "");
    // And `[workspace.metadata.ctxlint]` in a virtual manifest.
    dir.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.ctxlint]\nselect = [\"CTX001\"]\n",
    );
    let out = ctxlint(
        dir.path().join("sub"),
        ["check", "--output-format", "concise", "."],
    );
    out.assert_code(0);
    assert_eq!(out.stdout, "");
}

#[test]
fn an_explicit_config_file_is_used_instead_of_the_discovered_one() {
    let dir = mixed_project("config-explicit");
    dir.write("ctxlint.toml", "selcet = [\"broken\"]\n");
    dir.write("quiet.toml", "ignore = [\"CTX100\"]\n");
    let out = concise(&dir, &["--config", "quiet.toml"]);
    out.assert_code(1);
    assert_eq!(out.short(), [BROKEN]);
    let out = concise(&dir, &["--config", "missing.toml"]);
    assert_usage_error(&out, "missing.toml");
}

#[test]
fn an_explicit_cargo_toml_config_reads_its_metadata_table() {
    // `--config` names "this configuration file"; a Cargo.toml's configuration is its
    // `[package.metadata.ctxlint]` table, not the whole manifest.
    let dir = mixed_project("config-explicit-cargo");
    dir.write(
        "project/Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[package.metadata.ctxlint]\nignore = [\"CTX100\"]\n",
    );
    let out = concise(&dir, &["--config", "project/Cargo.toml"]);
    out.assert_code(1);
    assert_eq!(out.short(), [BROKEN]);
}

// ---------------------------------------------------------------------------------------
// Configuration errors: exit 2, naming the file and the key

#[track_caller]
fn assert_config_error(dir: &TempDir, file: &str, needles: &[&str]) {
    let out = concise(dir, &[]);
    out.assert_code(2);
    assert_eq!(out.stdout, "", "a configuration error lints nothing");
    let path = dir.path().join(file);
    assert!(
        out.stderr.contains(&path.display().to_string()),
        "stderr should name {}:\n{}",
        path.display(),
        out.stderr
    );
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "stderr should mention {needle:?}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn ctxlint_toml_with_an_unknown_key_is_an_error() {
    let dir = mixed_project("config-unknown-key");
    dir.write(
        "ctxlint.toml",
        "select = [\"ALL\"]\nselcet = [\"CTX001\"]\n",
    );
    assert_config_error(&dir, "ctxlint.toml", &["selcet"]);
}

#[test]
fn ctxlint_toml_with_an_unknown_rule_is_an_error() {
    let dir = mixed_project("config-unknown-rule");
    dir.write("ctxlint.toml", "select = [\"CTX001\", \"CTX999\"]\n");
    assert_config_error(&dir, "ctxlint.toml", &["select", "CTX999"]);
    dir.write(
        "ctxlint.toml",
        "[per-file-ignores]\n\"tests/*\" = [\"no-such-rule\"]\n",
    );
    assert_config_error(&dir, "ctxlint.toml", &["per-file-ignores", "no-such-rule"]);
}

#[test]
fn ctxlint_toml_that_is_not_toml_is_an_error() {
    let dir = mixed_project("config-syntax");
    dir.write("ctxlint.toml", "select = [\"CTX001\"\n");
    assert_config_error(&dir, "ctxlint.toml", &[]);
}

#[test]
fn cargo_metadata_with_an_unknown_key_is_an_error() {
    let dir = mixed_project("cargo-unknown-key");
    dir.write(
        "Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[package.metadata.ctxlint]\nexclude = []\nextra-spawn-fns = [\"pool::run\"]\n",
    );
    assert_config_error(&dir, "Cargo.toml", &["extra-spawn-fns"]);
    dir.write(
        "Cargo.toml",
        "[workspace]\nmembers = []\n\n[workspace.metadata.ctxlint]\nignroe = [\"CTX100\"]\n",
    );
    assert_config_error(&dir, "Cargo.toml", &["ignroe"]);
}

#[test]
fn cargo_metadata_with_an_unknown_rule_is_an_error() {
    let dir = mixed_project("cargo-unknown-rule");
    dir.write(
        "Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[package.metadata.ctxlint]\nignore = [\"CTX100\", \"CTX999\"]\n",
    );
    assert_config_error(&dir, "Cargo.toml", &["ignore", "CTX999"]);
}

#[test]
fn a_cargo_toml_without_a_ctxlint_table_is_not_configuration() {
    let dir = mixed_project("cargo-no-table");
    dir.write(
        "Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[package.metadata.other-tool]\nselcet = 1\n",
    );
    let out = concise(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), [BROKEN, STALE]);
}

// ---------------------------------------------------------------------------------------
// Output switches

#[test]
fn quiet_leaves_out_the_summary() {
    let dir = mixed_project("quiet");
    let out = ctxlint(dir.path(), ["check", "--quiet", "."]);
    out.assert_code(1);
    assert!(out.stdout.contains("CTX000 syntax-error"), "{}", out.stdout);
    assert!(!out.stdout.contains("Found"), "{}", out.stdout);
    let clean = TempDir::new("quiet-clean");
    clean.write("a.rs", "fn a() {}\n");
    let out = ctxlint(clean.path(), ["check", "--quiet", "."]);
    out.assert_code(0);
    assert_eq!(out.stdout, "");
}

#[test]
fn statistics_count_findings_per_rule() {
    let dir = mixed_project("statistics");
    dir.write(
        "more.rs",
        "// ctxlint: ignore[CTX001, CTX004]\nfn more() {}\n",
    );
    let out = ctxlint(dir.path(), ["check", "--statistics", "."]);
    out.assert_code(1);
    assert_eq!(
        out.stdout,
        "3\tCTX100\t[unused-suppression]\n1\tCTX000\t[syntax-error]\n"
    );
    let out = ctxlint(
        dir.path(),
        ["check", "--statistics", "--output-format", "json", "."],
    );
    out.assert_code(1);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON statistics");
    assert_eq!(
        rows,
        serde_json::json!([
            {"code": "CTX100", "name": "unused-suppression", "count": 3},
            {"code": "CTX000", "name": "syntax-error", "count": 1},
        ])
    );
    let out = ctxlint(dir.path(), ["check", "--statistics", "--exit-zero", "."]);
    out.assert_code(0);
    assert_eq!(out.lines().len(), 2);
}

#[test]
fn statistics_of_a_clean_run_are_empty() {
    let dir = TempDir::new("statistics-clean");
    dir.write("a.rs", "fn a() {}\n");
    let out = ctxlint(dir.path(), ["check", "--statistics", "."]);
    out.assert_code(0);
    assert_eq!(out.stdout, "");
}

// ---------------------------------------------------------------------------------------
// Discovery

#[test]
fn explicit_files_are_linted_even_when_excluded() {
    let dir = mixed_project("exclude");
    dir.write(
        "ctxlint.toml",
        "exclude = [\"generated/**\", \"skip_me.rs\"]\n",
    );
    let broken = "fn broken() {\n    let = 1;\n}\n";
    dir.write("generated/api.rs", broken);
    dir.write("skip_me.rs", broken);
    dir.write(".gitignore", "ignored.rs\n");
    dir.write("ignored.rs", broken);
    dir.write("target/debug/build.rs", broken);
    dir.write("notes.txt", broken);
    let out = concise(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), [BROKEN, STALE], "walking skips excluded files");
    // A file named on the command line is linted whatever excludes it, and whatever its
    // extension.
    for file in [
        "generated/api.rs",
        "skip_me.rs",
        "ignored.rs",
        "target/debug/build.rs",
        "notes.txt",
    ] {
        let out = ctxlint(dir.path(), ["check", "--output-format", "concise", file]);
        out.assert_code(1);
        assert_eq!(out.short(), [format!("{file}:2:9 CTX000")], "{file}");
    }
}

#[test]
fn exclude_patterns_are_relative_to_the_configuration_file() {
    // The same project, the same configuration: whether it is checked as `.`, by its
    // absolute path (as editors and CI scripts do) or from a subdirectory must not change
    // what is excluded.
    let dir = TempDir::new("exclude-root");
    dir.write("ctxlint.toml", "exclude = [\"generated/**\"]\n");
    dir.write("generated/api.rs", "fn api( {}\n");
    dir.write("src/lib.rs", "pub fn ok() {}\n");
    let root = dir.path().display().to_string();
    for (cwd, path) in [
        (".", "."),
        (".", root.as_str()),
        ("src", ".."),
        ("src", &root),
    ] {
        let out = ctxlint(
            dir.path().join(cwd),
            ["check", "--output-format", "concise", path],
        );
        out.assert_code(0);
        assert_eq!(out.stdout, "", "`ctxlint check {path}` in {cwd}");
    }
}

#[test]
fn per_file_ignores_are_relative_to_the_configuration_file() {
    let dir = TempDir::new("per-file-root");
    dir.write(
        "ctxlint.toml",
        "[per-file-ignores]\n\"src/*.rs\" = [\"CTX100\"]\n",
    );
    dir.write("src/lib.rs", "// ctxlint: ignore[CTX003]\npub fn ok() {}\n");
    let root = dir.path().display().to_string();
    for (cwd, path) in [
        (".", "."),
        (".", "src/lib.rs"),
        (".", root.as_str()),
        ("src", "."),
        ("src", "lib.rs"),
    ] {
        let out = ctxlint(
            dir.path().join(cwd),
            ["check", "--output-format", "concise", path],
        );
        out.assert_code(0);
        assert_eq!(out.stdout, "", "`ctxlint check {path}` in {cwd}");
    }
}

#[test]
fn a_file_named_twice_is_linted_once() {
    let dir = mixed_project("dedup");
    let out = ctxlint(
        dir.path(),
        [
            "check",
            "--output-format",
            "concise",
            "broken.rs",
            "broken.rs",
            "stale.rs",
        ],
    );
    out.assert_code(1);
    assert_eq!(out.short(), [BROKEN, STALE]);
}

#[test]
fn committed_fixture_dir_lints_as_expected() {
    // The snapshot inputs, walked as a directory: a smoke test of the committed fixtures.
    let out = ctxlint(
        fixtures_dir().join("report"),
        ["check", "--output-format", "concise", "."],
    );
    out.assert_code(1);
    let codes: Vec<String> = out.findings().into_iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        ["CTX000", "CTX100", "CTX100", "CTX100", "CTX100", "CTX100", "CTX000"]
    );
}

// ---------------------------------------------------------------------------------------
// `ctxlint rule`

/// Splits `rule --all` output into `(code, name, doc)` at the `# name (CODE)` headers.
fn rule_sections(text: &str) -> Vec<(String, String, String)> {
    let mut sections: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        let header = line
            .strip_prefix("# ")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|rest| rest.split_once(" ("))
            .filter(|(_, code)| code.len() == 6 && code.starts_with("CTX"));
        match header {
            Some((name, code)) => sections.push((code.into(), name.into(), String::new())),
            None => {
                let section = sections.last_mut().expect("output starts with a header");
                section.2.push_str(line);
                section.2.push('\n');
            }
        }
    }
    sections
}

#[track_caller]
fn assert_rule_doc(code: &str, doc: &str) {
    for heading in [
        "## What it does",
        "## Why is this bad?",
        "## Example",
        "Use instead:",
    ] {
        assert!(doc.contains(heading), "{code} lacks {heading:?}:\n{doc}");
    }
    let example = doc.find("## Example").unwrap();
    let use_instead = doc.find("Use instead:").unwrap();
    assert!(
        example < use_instead,
        "{code}: `Use instead:` before the example"
    );
    assert!(
        doc[example..use_instead].contains("```"),
        "{code}: the example has no code block"
    );
    assert!(
        doc[use_instead..].contains("```"),
        "{code}: `Use instead:` has no code block"
    );
}

#[test]
fn rule_by_code_and_by_name_print_the_same_doc() {
    let dir = TempDir::new("rule");
    let by_code = ctxlint(dir.path(), ["rule", "CTX001"]);
    by_code.assert_code(0);
    assert!(
        by_code
            .stdout
            .starts_with("# set-without-reset (CTX001)\n\n## What it does\n"),
        "{}",
        by_code.stdout
    );
    assert_rule_doc("CTX001", &by_code.stdout);
    for alias in ["set-without-reset", "ctx001"] {
        let out = ctxlint(dir.path(), ["rule", alias]);
        out.assert_code(0);
        assert_eq!(out.stdout, by_code.stdout, "ctxlint rule {alias}");
    }
    assert_eq!(by_code.stderr, "");
}

#[test]
fn rule_all_documents_every_rule() {
    let dir = TempDir::new("rule-all");
    let out = ctxlint(dir.path(), ["rule", "--all"]);
    out.assert_code(0);
    let sections = rule_sections(&out.stdout);
    let listed: Vec<(&str, &str)> = sections
        .iter()
        .map(|(code, name, _)| (code.as_str(), name.as_str()))
        .collect();
    assert_eq!(listed, RULES);
    for (code, _, doc) in &sections {
        assert_rule_doc(code, doc);
        let single = ctxlint(dir.path(), ["rule", code]);
        single.assert_code(0);
        assert!(
            out.stdout.contains(single.stdout.trim_end()),
            "`rule --all` and `rule {code}` disagree"
        );
    }
}

#[test]
fn unknown_rule_exits_2() {
    let dir = TempDir::new("rule-unknown");
    for unknown in ["CTX999", "set-without-resets"] {
        let out = ctxlint(dir.path(), ["rule", unknown]);
        assert_usage_error(&out, unknown);
    }
    let out = ctxlint(dir.path(), ["rule"]);
    out.assert_code(2);
    let out = ctxlint(dir.path(), ["rule", "CTX001", "--all"]);
    out.assert_code(2);
}

#[test]
fn crate_wide_facts_stay_in_their_crate() {
    // Crate `a` has a `report` that logs; crate `b` spawns its own, silent `report`. A run
    // over both must not let `a`'s function stand for `b`'s.
    let dir = TempDir::new("crates");
    let handler = "use tracing::instrument;\n\n#[instrument]\nfn handle() {\n    std::thread::spawn(report);\n}\n";
    for krate in ["a", "b"] {
        dir.write(format!("{krate}/Cargo.toml"), "[package]\nname = \"x\"\n");
        dir.write(format!("{krate}/src/handler.rs"), handler);
    }
    dir.write(
        "a/src/report.rs",
        "pub fn report() {\n    tracing::info!(\"done\");\n}\n",
    );
    dir.write("b/src/report.rs", "pub fn report() {}\n");
    let out = concise(&dir, &["a", "b"]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a/src/handler.rs:5:5 CTX003"]);
}
