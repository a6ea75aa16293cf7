//! Python files through the same command line: discovery next to Rust files, syntax errors
//! with recovery, `# noqa`, `[tool.ctxlint]` in `pyproject.toml`, and robustness inputs.

use e2e::{ctxlint, Output, TempDir};

fn concise(dir: &TempDir, extra: &[&str]) -> Output {
    let mut args = vec!["check", "--output-format", "concise"];
    args.extend_from_slice(extra);
    let mut out = ctxlint(dir.path(), &args);
    // Walking `.` prints `./name`; strip it so expectations read like the files.
    out.stdout = out.stdout.replace("./", "");
    out
}

/// A module with a mutable `ContextVar` default (CTX006) on row 3.
const MUTABLE_DEFAULT: &str =
    "from contextvars import ContextVar\n\nitems: ContextVar[list] = ContextVar(\"items\", default=[])\n";

#[test]
fn python_and_rust_files_are_linted_in_one_run() {
    let dir = TempDir::new("py-mixed");
    dir.write("app/ctx.py", MUTABLE_DEFAULT);
    dir.write("app/broken.py", "def f(:\n    pass\n");
    dir.write("src/lib.rs", "fn broken( {}\n");
    dir.write("notes.txt", "def f(:\n");
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    let short = out.short();
    assert_eq!(
        short,
        [
            "app/broken.py:1:7 CTX000",
            "app/ctx.py:3:55 CTX006",
            "src/lib.rs:1:10 CTX000"
        ]
    );
}

#[test]
fn virtualenvs_and_build_output_are_skipped_unless_named() {
    let dir = TempDir::new("py-skipped");
    for skipped in [
        ".venv",
        "venv",
        "build",
        "dist",
        "__pypackages__",
        "node_modules",
    ] {
        dir.write(format!("{skipped}/lib/mod.py"), "def f(:\n");
    }
    dir.write("ok.py", "x = 1\n");
    concise(&dir, &["."]).assert_code(0);
    let named = concise(&dir, &["build"]);
    named.assert_code(1);
    assert_eq!(named.short(), ["build/lib/mod.py:1:7 CTX000"]);
}

#[test]
fn a_syntax_error_is_one_finding_and_the_rest_of_the_file_is_checked() {
    let dir = TempDir::new("py-recovery");
    dir.write(
        "a.py",
        format!("{MUTABLE_DEFAULT}\ndef broken(:\n    pass\n\nother = ContextVar(\"other\", default={{}})\nx = (\n"),
    );
    let out = concise(&dir, &["a.py"]);
    out.assert_code(1);
    let short = out.short();
    assert_eq!(
        short.iter().filter(|line| line.contains("CTX000")).count(),
        1,
        "{short:?}"
    );
    assert!(short.contains(&"a.py:3:55 CTX006".to_string()), "{short:?}");
    assert!(short.contains(&"a.py:8:37 CTX006".to_string()), "{short:?}");
}

#[test]
fn noqa_with_a_code_suppresses_and_bare_noqa_does_not() {
    let dir = TempDir::new("py-noqa");
    dir.write(
        "a.py",
        concat!(
            "from contextvars import ContextVar\n",
            "a = ContextVar(\"a\", default=[])  # noqa: CTX006\n",
            "b = ContextVar(\"b\", default=[])  # noqa\n",
            "c = ContextVar(\"c\", default=[])  # ctxlint: ignore[mutable-context-value] reviewed\n",
            "d = ContextVar(\"d\", default=())  # noqa: CTX006, E501\n",
        ),
    );
    let out = concise(&dir, &["a.py"]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.py:3:29 CTX006", "a.py:5:34 CTX100"]);
}

#[test]
fn pyproject_configures_the_run() {
    let dir = TempDir::new("py-config");
    dir.write(
        "pyproject.toml",
        "[project]\nname = \"svc\"\n\n[tool.ctxlint]\nignore = [\"CTX006\"]\nextra-executors = [\"svc.pool.CopyingPool\"]\n",
    );
    dir.write("svc/ctx.py", MUTABLE_DEFAULT);
    concise(&dir, &["."]).assert_code(0);
    let selected = concise(&dir, &["--select", "CTX006", "."]);
    selected.assert_code(1);
}

#[test]
fn an_unknown_pyproject_key_exits_2_naming_file_and_key() {
    let dir = TempDir::new("py-config-bad");
    dir.write(
        "pyproject.toml",
        "[tool.ctxlint]\nextra-executor = [\"x\"]\n",
    );
    dir.write("a.py", "x = 1\n");
    let out = concise(&dir, &["."]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("pyproject.toml") && out.stderr.contains("extra-executor"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_pyproject_without_a_ctxlint_table_is_not_a_config() {
    let dir = TempDir::new("py-config-none");
    dir.write("pyproject.toml", "[tool.ruff]\nline-length = 100\n");
    dir.write("a.py", MUTABLE_DEFAULT);
    concise(&dir, &["."]).assert_code(1);
}

#[test]
fn robustness_inputs_are_findings_not_crashes() {
    let dir = TempDir::new("py-robust");
    dir.write("empty.py", "");
    dir.write("bom.py", "\u{feff}x = 1\n");
    dir.write("crlf.py", "def f():\r\n    return (\r\n");
    dir.write("latin1.py", b"# caf\xe9\nx = 1\n");
    dir.write(
        "parens.py",
        format!("x = {}{}\n", "(".repeat(10_000), ")".repeat(10_000)),
    );
    let blocks: String = (0..1_000)
        .map(|level| format!("{}if x:\n", " ".repeat(level)))
        .collect();
    dir.write("blocks.py", blocks + &" ".repeat(1_000) + "pass\n");
    let big: String = (0..60_000)
        .map(|n| format!("def f{n}(x):\n    return x + {n}\n\n"))
        .collect();
    dir.write("big.py", big);
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    let short = out.short();
    let files: Vec<&str> = short
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        files,
        ["blocks.py", "crlf.py", "latin1.py", "parens.py"],
        "{short:?}"
    );
    assert!(
        short.iter().all(|line| line.ends_with("CTX000")),
        "{short:?}"
    );
}
