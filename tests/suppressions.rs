//! `// ctxlint: ignore[...]` and `// ctxlint: ignore-file[...]` as a user writes them.
//!
//! Which lines a suppression covers is observed two ways: a finding it covers disappears,
//! and a suppression that covered nothing is reported as CTX100 (unused-suppression) at
//! the comment. The finding suppressed is CTX001 on a discarded span guard
//! (`span.enter();`), the simplest trigger of any context rule.

use e2e::{ctxlint, Output, TempDir};

fn check(dir: &TempDir, extra: &[&str]) -> Output {
    let mut args = vec!["check", "--output-format", "concise"];
    args.extend_from_slice(extra);
    args.push("a.rs");
    ctxlint(dir.path(), &args)
}

/// `a.rs` holding `body` inside `fn handle(span: &Span)`, starting at row 4, followed by a
/// log call (a discarded guard is only a finding when code follows it).
fn handler(label: &str, body: &str) -> TempDir {
    let dir = TempDir::new(label);
    dir.write(
        "a.rs",
        format!("use tracing::Span;\n\nfn handle(span: &Span) {{\n{body}    tracing::info!(\"done\");\n}}\n"),
    );
    dir
}

#[test]
fn the_unsuppressed_trigger_is_reported() {
    // The premise of this file: CTX001 fires on each discarded guard.
    let dir = handler("premise", "    span.enter();\n    span.enter();\n");
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:4:5 CTX001", "a.rs:5:5 CTX001"]);
}

#[test]
fn a_trailing_comment_covers_its_own_line_only() {
    let dir = handler(
        "trailing",
        concat!(
            "    span.enter(); // ctxlint: ignore[CTX001] reviewed: covered\n",
            "    span.enter();\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:5:5 CTX001"]);
}

#[test]
fn a_trailing_comment_does_not_cover_the_next_line() {
    let dir = handler(
        "trailing-next",
        concat!(
            "    let id = 7; // ctxlint: ignore[CTX001] meant for the next line\n",
            "    span.enter();\n",
            "    let _ = id;\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:4:17 CTX100", "a.rs:5:5 CTX001"]);
    let message = &out.findings()[0].message;
    assert!(
        message.contains("CTX001") && message.contains("set-without-reset"),
        "{message}"
    );
}

#[test]
fn a_comment_line_covers_the_next_line_only() {
    let dir = handler(
        "standalone",
        concat!(
            "    // ctxlint: ignore[set-without-reset] reviewed: covers the next line\n",
            "    span.enter();\n",
            "    span.enter();\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:6:5 CTX001"]);
}

#[test]
fn a_comment_line_does_not_reach_past_a_blank_line() {
    let dir = handler(
        "standalone-gap",
        concat!(
            "    // ctxlint: ignore[CTX001] separated from the line it meant\n",
            "\n",
            "    span.enter();\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:4:5 CTX100", "a.rs:6:5 CTX001"]);
}

#[test]
fn ignore_file_covers_every_line() {
    let dir = TempDir::new("ignore-file");
    dir.write(
        "a.rs",
        concat!(
            "// ctxlint: ignore-file[CTX001] test helpers enter spans on purpose\n",
            "use tracing::Span;\n",
            "\n",
            "fn handle(span: &Span) {\n",
            "    span.enter();\n",
            "    handle_inner();\n",
            "}\n",
            "\n",
            "fn again(span: &Span) {\n",
            "    span.enter();\n",
            "    handle_inner();\n",
            "}\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(0);
    assert_eq!(out.stdout, "");
}

#[test]
fn an_unused_ignore_file_is_reported() {
    let dir = TempDir::new("ignore-file-unused");
    dir.write(
        "a.rs",
        "fn f() {}\n// ctxlint: ignore-file[CTX002, unpropagated-spawn] nothing here\n",
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    let findings = out.findings();
    assert_eq!(out.short(), ["a.rs:2:1 CTX100", "a.rs:2:1 CTX100"]);
    assert!(findings[0].message.contains("CTX002"), "{findings:?}");
    assert!(findings[1].message.contains("CTX003"), "{findings:?}");
}

#[test]
fn each_unused_rule_of_a_suppression_is_reported() {
    let dir = handler(
        "partly-used",
        "    span.enter(); // ctxlint: ignore[CTX001, CTX004] the guard is the point\n",
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    let findings = out.findings();
    assert_eq!(out.short(), ["a.rs:4:19 CTX100"]);
    assert!(
        findings[0].message.contains("CTX004") && !findings[0].message.contains("CTX001"),
        "{findings:?}"
    );
}

#[test]
fn an_unused_suppression_is_located_at_the_comment() {
    let dir = TempDir::new("unused-location");
    dir.write(
        "a.rs",
        concat!(
            "fn f() -> usize {\n",
            "    let s = \"ünïcödé\"; // ctxlint: ignore[CTX003]\n",
            "    // ctxlint: ignore[CTX002]\n",
            "    s.len()\n",
            "}\n",
        ),
    );
    let out = ctxlint(dir.path(), ["check", "--output-format", "json", "a.rs"]);
    out.assert_code(1);
    let findings: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let spans: Vec<_> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["location"]["row"].as_u64().unwrap(),
                f["location"]["column"].as_u64().unwrap(),
                f["end_location"]["row"].as_u64().unwrap(),
                f["end_location"]["column"].as_u64().unwrap(),
            )
        })
        .collect();
    // The range is the comment, to the end of the line.
    let comment = "// ctxlint: ignore[CTX003]".chars().count() as u64;
    assert_eq!(
        spans,
        [
            ("CTX100".to_string(), 2, 24, 2, 24 + comment),
            ("CTX100".to_string(), 3, 5, 3, 5 + comment),
        ]
    );
}

#[test]
fn a_suppression_of_a_disabled_rule_is_not_reported() {
    let dir = handler(
        "disabled",
        "    // ctxlint: ignore[CTX001] reviewed\n    span.enter();\n",
    );
    for extra in [&["--ignore", "CTX001"][..], &["--select", "CTX002,CTX100"]] {
        let out = check(&dir, extra);
        out.assert_code(0);
        assert_eq!(out.stdout, "", "{extra:?}");
    }
    dir.write(
        "ctxlint.toml",
        "[per-file-ignores]\n\"a.rs\" = [\"set-without-reset\"]\n",
    );
    let out = check(&dir, &[]);
    out.assert_code(0);
    assert_eq!(out.stdout, "");
}

#[test]
fn codes_and_names_in_any_mix_and_spacing() {
    let dir = handler(
        "spelling",
        concat!(
            "    span.enter(); //ctxlint:ignore[ctx001]\n",
            "    span.enter(); // ctxlint: ignore[ set-without-reset , CTX004 ]\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:5:19 CTX100"]);
}

#[test]
fn suppressions_work_with_crlf_line_endings() {
    let dir = TempDir::new("crlf");
    dir.write(
        "a.rs",
        concat!(
            "use tracing::Span;\r\n",
            "\r\n",
            "fn handle(span: &Span) {\r\n",
            "    // ctxlint: ignore[CTX001] covers the next line\r\n",
            "    span.enter();\r\n",
            "    span.enter(); // ctxlint: ignore[CTX001]\r\n",
            "    let x = 1; // ctxlint: ignore[CTX003]\r\n",
            "    let _ = x;\r\n",
            "}\r\n",
        ),
    );
    let out = ctxlint(dir.path(), ["check", "--output-format", "json", "a.rs"]);
    out.assert_code(1);
    let findings: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let comment = "// ctxlint: ignore[CTX003]".chars().count() as u64;
    assert_eq!(findings[0]["code"], "CTX100");
    assert_eq!(
        findings[0]["location"],
        serde_json::json!({"row": 7, "column": 16})
    );
    // The `\r` is not part of the comment's range.
    assert_eq!(
        findings[0]["end_location"],
        serde_json::json!({"row": 7, "column": 16 + comment})
    );
}

#[test]
fn syntax_errors_cannot_be_suppressed() {
    // CTX000 says the file was not checked at all; hiding it would make the gap silent.
    let dir = TempDir::new("ctx000");
    dir.write(
        "line.rs",
        "fn f() {\n    let = 1; // ctxlint: ignore[CTX000]\n}\n",
    );
    dir.write(
        "file.rs",
        "// ctxlint: ignore-file[syntax-error]\nfn g() {\n    let = 1;\n}\n",
    );
    for (file, location) in [("line.rs", "line.rs:2:9"), ("file.rs", "file.rs:3:9")] {
        let out = ctxlint(dir.path(), ["check", "--output-format", "concise", file]);
        out.assert_code(1);
        let short = out.short();
        assert!(
            short.contains(&format!("{location} CTX000")),
            "the syntax error in {file} must be reported:\n{}",
            out.stdout
        );
    }
}

#[test]
fn suppressions_in_a_file_that_does_not_parse_are_not_reported_unused() {
    // No rule ran on the file, so its suppressions are not known to be stale (CTX100 is
    // about "a rule that ran"); reporting them would be noise until the syntax is fixed.
    let dir = TempDir::new("unparsed");
    dir.write(
        "a.rs",
        concat!(
            "use tracing::Span;\n",
            "fn handle(span: &Span) {\n",
            "    span.enter(); // ctxlint: ignore[CTX001] reviewed\n",
            "    let = 1;\n",
            "}\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:4:9 CTX000"]);
}

#[test]
fn a_suppression_inside_a_string_literal_is_not_a_suppression() {
    // Text in a string is not a comment: it neither suppresses nor is reported.
    let dir = handler(
        "string",
        concat!(
            "    let doc = \"// ctxlint: ignore[CTX001]\"; span.enter();\n",
            "    let _ = doc;\n",
        ),
    );
    let out = check(&dir, &[]);
    out.assert_code(1);
    assert_eq!(out.short(), ["a.rs:4:45 CTX001"]);
}
