//! Inputs that break naive linters, generated in throw-away directories: empty files, a
//! byte-order mark, CRLF, bytes that are not UTF-8, absurd nesting, a 5 MB file, a
//! directory named like a source file, symlink loops and unreadable files. Each run must
//! end normally with a concrete exit code and concrete findings.

use std::time::Duration;

use e2e::{Ctxlint, Output, TempDir};

fn concise(dir: &TempDir, paths: &[&str]) -> Output {
    let mut args = vec!["check", "--output-format", "concise"];
    args.extend_from_slice(paths);
    let mut out = Ctxlint::new(dir.path(), &args)
        .timeout(Duration::from_secs(120))
        .run();
    out.stdout = out.stdout.replace("./", "");
    out
}

fn json(dir: &TempDir, paths: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let mut args = vec!["check", "--output-format", "json"];
    args.extend_from_slice(paths);
    let out = Ctxlint::new(dir.path(), &args)
        .timeout(Duration::from_secs(120))
        .run();
    let findings: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", out.stdout));
    (out, findings.as_array().expect("a JSON array").clone())
}

fn location(finding: &serde_json::Value) -> (String, u64, u64) {
    (
        finding["code"].as_str().unwrap().to_string(),
        finding["location"]["row"].as_u64().unwrap(),
        finding["location"]["column"].as_u64().unwrap(),
    )
}

#[test]
fn an_empty_file_has_no_findings() {
    let dir = TempDir::new("empty");
    dir.write("empty.rs", "");
    dir.write("blank.rs", "\n\n   \n");
    dir.write("comment.rs", "// only a comment, no newline at the end");
    let out = Ctxlint::new(dir.path(), ["check", "."]).run();
    out.assert_code(0);
    assert_eq!(out.stdout, "All checks passed (3 files).\n");
}

#[test]
fn a_byte_order_mark_is_not_a_syntax_error() {
    let dir = TempDir::new("bom");
    dir.write("ok.rs", "\u{feff}fn main() {}\n");
    dir.write(
        "shebang.rs",
        "\u{feff}#!/usr/bin/env run-cargo-script\nfn main() {}\n",
    );
    dir.write("bad.rs", "\u{feff}fn main() {\n    let = 1;\n}\n");
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    assert_eq!(out.short(), ["bad.rs:2:9 CTX000"]);
}

#[test]
fn a_byte_order_mark_is_not_counted_as_a_column() {
    // Editors, GitHub annotations and SARIF viewers do not show the mark: the first
    // character a user sees is column 1.
    let dir = TempDir::new("bom-column");
    dir.write("a.rs", "\u{feff}// ctxlint: ignore[CTX003]\nfn main() {}\n");
    dir.write("b.rs", "\u{feff}fn main( {}\n");
    let (out, findings) = json(&dir, &["a.rs", "b.rs"]);
    out.assert_code(1);
    let comment = "// ctxlint: ignore[CTX003]".chars().count() as u64;
    assert_eq!(findings[0]["code"], "CTX100");
    assert_eq!(
        findings[0]["location"],
        serde_json::json!({"row": 1, "column": 1})
    );
    assert_eq!(
        findings[0]["end_location"],
        serde_json::json!({"row": 1, "column": 1 + comment})
    );
    assert_eq!(location(&findings[1]), ("CTX000".into(), 1, 8));
}

#[test]
fn crlf_line_endings_count_rows_and_columns_like_lf() {
    let dir = TempDir::new("crlf");
    dir.write(
        "crlf.rs",
        "// héllo\r\nfn main() {\r\n    let = 1;\r\n}\r\n",
    );
    dir.write("mixed.rs", "fn a() {}\r\nfn b() {}\nfn c( {}\r\n");
    dir.write(
        "ok.rs",
        "fn a() {\r\n    let x = 1;\r\n    let _ = x;\r\n}\r\n",
    );
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    assert_eq!(out.short(), ["crlf.rs:3:9 CTX000", "mixed.rs:3:5 CTX000"]);
    // The full report shows the lines without their carriage returns.
    let out = Ctxlint::new(dir.path(), ["check", "crlf.rs"]).run();
    out.assert_code(1);
    assert!(!out.stdout.contains('\r'), "{:?}", out.stdout);
    assert!(out.stdout.contains("    let = 1;\n"), "{}", out.stdout);
}

#[test]
fn a_file_that_is_not_utf8_is_one_finding_and_the_run_goes_on() {
    let dir = TempDir::new("latin1");
    dir.write("a_latin1.rs", b"fn main() {}\n// caf\xe9\n");
    dir.write("b_binary.rs", [0xff_u8, 0xfe, 0x00, 0x81, 0x0a, 0xc3]);
    dir.write("c_broken.rs", "fn c( {}\n");
    dir.write("d_ok.rs", "fn d() {}\n");
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    assert_eq!(
        out.short(),
        [
            "a_latin1.rs:1:1 CTX000",
            "b_binary.rs:1:1 CTX000",
            "c_broken.rs:1:5 CTX000",
        ]
    );
    let findings = out.findings();
    assert!(findings[0].message.contains("UTF-8"), "{findings:?}");
    assert!(findings[0].message.contains("offset 19"), "{findings:?}");
    assert!(findings[1].message.contains("offset 0"), "{findings:?}");
    // The full report still renders (the text is shown with replacement characters).
    let out = Ctxlint::new(dir.path(), ["check", "."]).run();
    out.assert_code(1);
    assert!(
        out.stdout.ends_with("Found 3 findings in 4 files.\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn ten_thousand_levels_of_nesting_are_a_finding_not_a_crash() {
    let dir = TempDir::new("deep");
    let depth = 10_000;
    dir.write(
        "parens.rs",
        format!("fn f() {{ {}{} }}\n", "(".repeat(depth), ")".repeat(depth)),
    );
    dir.write(
        "blocks.rs",
        format!("fn g() {}{}\n", "{".repeat(depth), "}".repeat(depth)),
    );
    dir.write(
        "unclosed.rs",
        format!("fn h() {{ let v = {}\n", "[".repeat(depth)),
    );
    // Deep but legal: each level is checked.
    dir.write(
        "fine.rs",
        format!(
            "fn k() -> u8 {{ {}1{} }}\n",
            "(".repeat(100),
            ")".repeat(100)
        ),
    );
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    // Reported at the first bracket past the limit of 256 levels.
    assert_eq!(
        out.short(),
        [
            "blocks.rs:1:264 CTX000",
            "parens.rs:1:265 CTX000",
            "unclosed.rs:1:273 CTX000",
        ]
    );
    for finding in out.findings() {
        assert!(finding.message.contains("nesting"), "{finding:?}");
    }
}

#[test]
fn a_five_megabyte_file_is_checked_to_the_end() {
    let dir = TempDir::new("big");
    let mut text = String::new();
    let mut functions = 0;
    while text.len() < 5 * 1024 * 1024 {
        text.push_str(&format!(
            "pub fn f{functions}(x: u32) -> u32 {{\n    let y = x.wrapping_add({functions});\n    if y % 2 == 0 {{ y / 2 }} else {{ y * 3 + 1 }}\n}}\n\n"
        ));
        functions += 1;
    }
    let rows = text.lines().count();
    // One finding on the last line proves the whole file was read and indexed.
    text.push_str("// ctxlint: ignore[CTX003] the end\n");
    dir.write("big.rs", &text);
    let out = Ctxlint::new(
        dir.path(),
        ["check", "--output-format", "concise", "big.rs"],
    )
    .timeout(Duration::from_secs(900))
    .run();
    out.assert_code(1);
    assert_eq!(out.short(), [format!("big.rs:{}:1 CTX100", rows + 1)]);
}

#[test]
fn a_directory_named_like_a_source_file_is_walked_not_read() {
    let dir = TempDir::new("dir-rs");
    std::fs::create_dir(dir.path().join("x.rs")).unwrap();
    dir.write("y.rs/inner.rs", "fn inner( {}\n");
    dir.write("ok.rs", "fn ok() {}\n");
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    assert_eq!(out.short(), ["y.rs/inner.rs:1:9 CTX000"]);
    let out = Ctxlint::new(dir.path(), ["check", "x.rs"]).run();
    out.assert_code(0);
    assert_eq!(out.stdout, "All checks passed (0 files).\n");
}

#[cfg(unix)]
#[test]
fn symlink_loops_do_not_hang_the_walk() {
    use std::os::unix::fs::symlink;
    let dir = TempDir::new("loops");
    dir.write("src/a.rs", "fn a( {}\n");
    symlink(".", dir.path().join("src/self")).unwrap();
    symlink("..", dir.path().join("src/parent")).unwrap();
    symlink("ping.rs", dir.path().join("pong.rs")).unwrap();
    symlink("pong.rs", dir.path().join("ping.rs")).unwrap();
    symlink("missing.rs", dir.path().join("dangling.rs")).unwrap();
    let run = |paths: &[&str]| {
        let mut args = vec!["check", "--output-format", "concise"];
        args.extend_from_slice(paths);
        let mut out = Ctxlint::new(dir.path(), &args)
            .timeout(Duration::from_secs(60))
            .run();
        out.stdout = out.stdout.replace("./", "");
        out
    };
    let out = run(&["."]);
    out.assert_code(1);
    assert_eq!(out.short(), ["src/a.rs:1:5 CTX000"]);
    let out = run(&["src/self"]);
    out.assert_code(1);
    assert_eq!(out.short(), ["src/self/a.rs:1:5 CTX000"]);
    // Naming a link that never resolves is an error about that path.
    let out = run(&["ping.rs"]);
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("ping.rs"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_is_one_finding_and_the_run_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unreadable");
    let secret = dir.write("secret.rs", "fn secret( {}\n");
    dir.write("visible.rs", "fn visible( {}\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root (as in many CI containers) reads the file anyway: then it must be linted like
    // any other file. Either way the run reports both files.
    let readable_anyway = std::fs::read(&secret).is_ok();
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    let findings = out.findings();
    assert_eq!(out.short().len(), 2, "{}", out.stdout);
    if readable_anyway {
        assert_eq!(
            out.short(),
            ["secret.rs:1:10 CTX000", "visible.rs:1:11 CTX000"]
        );
        assert!(
            findings[0].message.starts_with("syntax error"),
            "{findings:?}"
        );
    } else {
        assert_eq!(
            out.short(),
            ["secret.rs:1:1 CTX000", "visible.rs:1:11 CTX000"]
        );
        assert!(
            findings[0].message.contains("cannot read file"),
            "{findings:?}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_read_error_is_one_finding_even_for_root() {
    // Reading `/proc/self/mem` from offset 0 fails with EIO for every user, so this
    // exercises the read-error path even where `chmod 000` does not stop root.
    use std::os::unix::fs::symlink;
    let dir = TempDir::new("read-error");
    symlink("/proc/self/mem", dir.path().join("mem.rs")).unwrap();
    dir.write("ok.rs", "fn ok( {}\n");
    let out = concise(&dir, &["mem.rs", "ok.rs"]);
    out.assert_code(1);
    assert_eq!(out.short(), ["mem.rs:1:1 CTX000", "ok.rs:1:6 CTX000"]);
    let message = &out.findings()[0].message;
    assert!(message.starts_with("cannot read file"), "{message}");
}

#[test]
fn odd_file_names_are_printed_as_given() {
    let dir = TempDir::new("names");
    dir.write("with space.rs", "fn a( {}\n");
    dir.write("ünï.rs", "fn b( {}\n");
    let out = concise(&dir, &["."]);
    out.assert_code(1);
    assert_eq!(
        out.short(),
        ["with space.rs:1:5 CTX000", "ünï.rs:1:5 CTX000"]
    );
}
