//! Every `--output-format` on one committed file set (`fixtures/cli/report/`), snapshotted
//! with insta, plus the contracts the snapshots only imply: the JSON keys, 1-based
//! character columns, the sort order, SARIF's structure and its schema.
//!
//! The file set's findings are syntax errors and unused suppressions only, so the
//! snapshots do not change when the context rules change. The binary runs inside the
//! fixture directory with relative paths, so the paths in the output are stable.
//! Snapshots: `cargo insta review` (or `INSTA_UPDATE=always cargo test`) after a change.

use std::path::PathBuf;

use e2e::{ctxlint, fixtures_dir, Output, TempDir};
use serde_json::{json, Value};

/// The paths given to every run: a directory and files, out of order on purpose.
const PATHS: &[&str] = &["nested", "b_suppressions.rs", "a_syntax.rs", "c_clean.rs"];

fn report_dir() -> PathBuf {
    fixtures_dir().join("report")
}

fn run(format: &str) -> Output {
    let mut args = vec!["check", "--output-format", format];
    args.extend_from_slice(PATHS);
    let out = ctxlint(report_dir(), &args);
    out.assert_code(1);
    assert_eq!(out.stderr, "", "{format} writes nothing to stderr");
    out
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}):\n{text}"))
}

/// `(filename, row, column, end row, end column, code)` of every finding, as expected.
const EXPECTED: &[(&str, u64, u64, u64, u64, &str)] = &[
    // `let café = "日本語"; let = 1;`: the `=` after the second `let` is character 27
    // (byte 34).
    ("a_syntax.rs", 3, 27, 3, 28, "CTX000"),
    // An unused suppression spans its comment, to the end of the line.
    ("b_suppressions.rs", 1, 1, 1, 82, "CTX100"),
    ("b_suppressions.rs", 5, 22, 5, 88, "CTX100"),
    ("b_suppressions.rs", 6, 5, 6, 86, "CTX100"),
    ("b_suppressions.rs", 6, 5, 6, 86, "CTX100"),
    // After `"Σ₁"` and `/* ünïcödé */`: character 37, byte 44.
    ("b_suppressions.rs", 7, 37, 7, 75, "CTX100"),
    ("nested/unclosed.rs", 4, 1, 4, 1, "CTX000"),
];

// ---------------------------------------------------------------------------------------
// Snapshots

#[test]
fn snapshot_full() {
    let out = run("full");
    insta::assert_snapshot!("full", out.stdout);
}

#[test]
fn snapshot_concise() {
    insta::assert_snapshot!("concise", run("concise").stdout);
}

#[test]
fn snapshot_json() {
    insta::assert_snapshot!("json", run("json").stdout);
}

#[test]
fn snapshot_json_lines() {
    insta::assert_snapshot!("json_lines", run("json-lines").stdout);
}

#[test]
fn snapshot_github() {
    insta::assert_snapshot!("github", run("github").stdout);
}

#[test]
fn snapshot_sarif() {
    // Rule descriptions are the rules' docs, which change with the rules; they are
    // checked below (`sarif_rules_are_every_rule`) instead of snapshotted, and so are the
    // fingerprints (`sarif_fingerprints_are_stable_and_distinct`). The version changes
    // with every release.
    let mut log = parse_json(&run("sarif").stdout);
    for rule in log["runs"][0]["tool"]["driver"]["rules"]
        .as_array_mut()
        .unwrap()
    {
        rule["shortDescription"]["text"] = json!("[first paragraph of the rule's doc]");
        rule["fullDescription"]["text"] = json!("[the rule's doc]");
    }
    for result in log["runs"][0]["results"].as_array_mut().unwrap() {
        for value in result["partialFingerprints"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            *value = json!("[fingerprint]");
        }
    }
    log["runs"][0]["tool"]["driver"]["version"] = json!("[version]");
    insta::assert_snapshot!("sarif", serde_json::to_string_pretty(&log).unwrap());
}

// ---------------------------------------------------------------------------------------
// Contracts

#[test]
fn the_formats_agree_on_the_findings() {
    let json_findings = parse_json(&run("json").stdout);
    let json_findings = json_findings.as_array().unwrap();
    let lines: Vec<Value> = run("json-lines").stdout.lines().map(parse_json).collect();
    assert_eq!(&lines, json_findings, "json-lines is json, one per line");
    let concise = run("concise");
    let concise: Vec<String> = concise
        .findings()
        .iter()
        .map(|f| format!("{}:{}:{} {} {}", f.path, f.row, f.column, f.code, f.message))
        .collect();
    let from_json: Vec<String> = json_findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{} {} {}",
                f["filename"].as_str().unwrap(),
                f["location"]["row"],
                f["location"]["column"],
                f["code"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(concise, from_json);
    let github = run("github").stdout;
    assert_eq!(github.lines().count(), json_findings.len());
    let full = run("full").stdout;
    assert!(
        full.ends_with(&format!(
            "Found {} findings in 4 files.\n",
            json_findings.len()
        )),
        "{full}"
    );
}

#[test]
fn json_findings_have_exactly_the_documented_keys() {
    let findings = parse_json(&run("json").stdout);
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), EXPECTED.len());
    for finding in findings {
        let object = finding.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "code",
                "end_location",
                "filename",
                "fix",
                "location",
                "message",
                "name",
                "severity",
                "url"
            ],
            "{finding}"
        );
        for key in ["location", "end_location"] {
            let mut keys: Vec<&str> = finding[key]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, ["column", "row"], "{finding}");
            assert!(finding[key]["row"].as_u64().unwrap() >= 1, "{finding}");
            assert!(finding[key]["column"].as_u64().unwrap() >= 1, "{finding}");
        }
        for key in ["code", "name", "message", "filename", "url"] {
            assert!(finding[key].is_string(), "{key} in {finding}");
        }
        assert!(finding["fix"].is_null(), "{finding}");
        let severity = finding["severity"].as_str().unwrap();
        let expected_severity = match finding["code"].as_str().unwrap() {
            "CTX100" => "warning",
            _ => "error",
        };
        assert_eq!(severity, expected_severity, "{finding}");
        let code = finding["code"].as_str().unwrap();
        let name = finding["name"].as_str().unwrap();
        let url = finding["url"].as_str().unwrap();
        assert!(url.starts_with("https://"), "{url}");
        assert!(
            url.ends_with(&format!("#{}-{name}", code.to_ascii_lowercase())),
            "{url}"
        );
    }
}

#[test]
fn json_locations_are_one_based_character_columns() {
    let findings = parse_json(&run("json").stdout);
    let actual: Vec<(&str, u64, u64, u64, u64, &str)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap(),
                f["location"]["row"].as_u64().unwrap(),
                f["location"]["column"].as_u64().unwrap(),
                f["end_location"]["row"].as_u64().unwrap(),
                f["end_location"]["column"].as_u64().unwrap(),
                f["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(actual, EXPECTED);
    // Cross-check the multi-byte columns against the files themselves.
    let text = std::fs::read_to_string(report_dir().join("a_syntax.rs")).unwrap();
    let line = text.lines().nth(2).unwrap();
    let byte = line.rfind("= 1").unwrap();
    assert_eq!(line[..byte].chars().count() + 1, 27);
    let text = std::fs::read_to_string(report_dir().join("b_suppressions.rs")).unwrap();
    let line = text.lines().nth(6).unwrap();
    let byte = line.find("//").unwrap();
    assert_eq!(line[..byte].chars().count() + 1, 37);
    assert_eq!(line.chars().count() + 1, 75);
}

#[test]
fn findings_are_sorted_by_file_row_column_and_code() {
    let findings = parse_json(&run("json").stdout);
    let keys: Vec<(String, u64, u64, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap().to_string(),
                f["location"]["row"].as_u64().unwrap(),
                f["location"]["column"].as_u64().unwrap(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // The order does not depend on the order of the paths or on thread scheduling.
    let reversed: Vec<&str> = PATHS.iter().rev().copied().collect();
    let mut args = vec!["check", "--output-format", "json"];
    args.extend_from_slice(&reversed);
    for _ in 0..3 {
        let again = ctxlint(report_dir(), &args);
        assert_eq!(parse_json(&again.stdout), findings);
    }
}

#[test]
fn sort_order_across_many_files_and_findings() {
    // Many files checked in parallel, written in reverse, findings at interleaved rows
    // and columns; two findings of one comment are ordered by their message.
    let dir = TempDir::new("sorting");
    let mut expected = Vec::new();
    for n in 0..40 {
        if n % 3 == 0 {
            expected.push(format!("./f{n:02}.rs:1:10 CTX000"));
        } else {
            expected.push(format!("./f{n:02}.rs:1:11 CTX100 CTX004"));
            expected.push(format!("./f{n:02}.rs:2:1 CTX100 CTX001"));
            expected.push(format!("./f{n:02}.rs:2:1 CTX100 CTX003"));
        }
    }
    for n in (0..40).rev() {
        let text = if n % 3 == 0 {
            "fn broken( {}\n"
        } else {
            "fn f() {} // ctxlint: ignore[CTX004]\n// ctxlint: ignore[CTX003, CTX001]\nfn g() {}\n"
        };
        dir.write(format!("f{n:02}.rs"), text);
    }
    let out = ctxlint(dir.path(), ["check", "--output-format", "concise", "."]);
    out.assert_code(1);
    let actual: Vec<String> = out
        .findings()
        .iter()
        .map(|f| {
            let suppressed = f.message.split('`').nth(1).filter(|_| f.code == "CTX100");
            match suppressed {
                Some(rule) => format!("{} {rule}", f.short()),
                None => f.short(),
            }
        })
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn full_reports_name_the_finding_location() {
    // The header of each report (`╭─[file:row:col]`) must point where the finding is:
    // the same row and character column as every other format.
    let full = run("full").stdout;
    let headers: Vec<&str> = full
        .lines()
        .filter_map(|line| line.split_once("╭─[").map(|(_, rest)| rest))
        .map(|rest| rest.trim_end_matches(']'))
        .collect();
    let expected: Vec<String> = EXPECTED
        .iter()
        .map(|(file, row, column, ..)| format!("{file}:{row}:{column}"))
        .collect();
    assert_eq!(headers, expected, "{full}");
}

#[test]
fn full_reports_show_the_source_the_rule_and_the_help() {
    let full = run("full").stdout;
    assert!(full.contains("CTX000 syntax-error"), "{full}");
    assert!(full.contains("CTX100 unused-suppression"), "{full}");
    assert!(
        full.contains("help: remove the suppression; nothing here triggers the rule"),
        "{full}"
    );
    assert!(
        full.contains("    let café = \"日本語\"; let = 1;"),
        "{full}"
    );
    assert!(!full.contains('\u{1b}'), "NO_COLOR output has no escapes");
}

#[test]
fn github_annotations_escape_properties_and_data() {
    let dir = TempDir::new("github");
    dir.write("a,b:c%.rs", "fn f( {}\n");
    let out = ctxlint(
        dir.path(),
        ["check", "--output-format", "github", "a,b:c%.rs"],
    );
    out.assert_code(1);
    assert_eq!(
        out.stdout,
        "::error file=a%2Cb%3Ac%25.rs,line=1,col=5,endLine=1,endColumn=5,title=CTX000 syntax-error::syntax error: unbalanced delimiter or unterminated literal\n"
    );
}

#[test]
fn empty_runs_print_empty_documents() {
    let dir = TempDir::new("empty-formats");
    dir.write("ok.rs", "fn ok() {}\n");
    for (format, expected) in [
        ("concise", ""),
        ("json", "[]\n"),
        ("json-lines", ""),
        ("github", ""),
        ("full", "All checks passed (1 file).\n"),
    ] {
        let out = ctxlint(dir.path(), ["check", "--output-format", format, "."]);
        out.assert_code(0);
        assert_eq!(out.stdout, expected, "{format}");
    }
    let out = ctxlint(dir.path(), ["check", "--output-format", "sarif", "."]);
    out.assert_code(0);
    let log = parse_json(&out.stdout);
    assert_eq!(log["runs"][0]["results"], json!([]));
    validate_sarif(&log);
}

// ---------------------------------------------------------------------------------------
// SARIF

/// Validates against the SARIF 2.1.0 schema shipped in `tests/schemas/` (see its README).
fn validate_sarif(log: &Value) {
    let path = e2e::workspace_root().join("tests/schemas/sarif-2.1.0.json");
    let schema = parse_json(&std::fs::read_to_string(&path).expect("the SARIF schema"));
    let validator = jsonschema::draft4::new(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF output violates the 2.1.0 schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_is_valid_against_the_schema() {
    validate_sarif(&parse_json(&run("sarif").stdout));
}

#[test]
fn the_schema_rejects_broken_sarif() {
    // The validator is not vacuous: the same log with a bad level fails.
    let mut log = parse_json(&run("sarif").stdout);
    log["runs"][0]["results"][0]["level"] = json!("fatal");
    let schema_path = e2e::workspace_root().join("tests/schemas/sarif-2.1.0.json");
    let schema = parse_json(&std::fs::read_to_string(schema_path).unwrap());
    let validator = jsonschema::draft4::new(&schema).unwrap();
    assert!(!validator.is_valid(&log));
    log["runs"][0]["results"][0]["level"] = json!("error");
    log["runs"][0]["unexpected"] = json!(1);
    assert!(!validator.is_valid(&log));
}

#[test]
fn sarif_rules_are_every_rule() {
    let log = parse_json(&run("sarif").stdout);
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(log["runs"].as_array().unwrap().len(), 1);
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "ctxlint");
    let version = ctxlint(report_dir(), ["--version"]).stdout;
    assert_eq!(
        format!("ctxlint {}", driver["version"].as_str().unwrap()),
        version.trim()
    );
    let dir = TempDir::new("sarif-rules");
    let docs = ctxlint(dir.path(), ["rule", "--all"]).stdout;
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["CTX000", "CTX001", "CTX002", "CTX003", "CTX004", "CTX005", "CTX006", "CTX100"]
    );
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        let name = rule["name"].as_str().unwrap();
        assert!(
            docs.contains(&format!("# {name} ({id})\n")),
            "{id} {name} is not in `rule --all`"
        );
        let full = rule["fullDescription"]["text"].as_str().unwrap();
        assert!(full.starts_with("## What it does"), "{id}: {full}");
        assert!(docs.contains(full), "{id}: fullDescription is not the doc");
        let short = rule["shortDescription"]["text"].as_str().unwrap();
        assert!(
            !short.is_empty() && !short.contains('\n'),
            "{id}: {short:?}"
        );
        assert!(rule["helpUri"].as_str().unwrap().starts_with("https://"));
        let level = rule["defaultConfiguration"]["level"].as_str().unwrap();
        assert!(
            ["error", "warning", "note"].contains(&level),
            "{id}: {level}"
        );
    }
}

#[test]
fn sarif_results_point_at_relative_files() {
    let log = parse_json(&run("sarif").stdout);
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), EXPECTED.len());
    for (result, expected) in results.iter().zip(EXPECTED) {
        let (file, row, column, end_row, end_column, code) = *expected;
        assert_eq!(result["ruleId"], code, "{result}");
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], code, "ruleIndex points at the rule");
        let level = result["level"].as_str().unwrap();
        assert_eq!(
            level,
            if code == "CTX100" { "warning" } else { "error" },
            "{result}"
        );
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let locations = result["locations"].as_array().unwrap();
        assert_eq!(locations.len(), 1);
        let physical = &locations[0]["physicalLocation"];
        let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
        assert_eq!(uri, file, "a relative, `/`-separated URI");
        assert_eq!(
            physical["region"],
            json!({
                "startLine": row, "startColumn": column,
                "endLine": end_row, "endColumn": end_column,
            })
        );
        let fingerprints = result["partialFingerprints"].as_object().unwrap();
        assert!(!fingerprints.is_empty(), "{result}");
        for value in fingerprints.values() {
            assert!(!value.as_str().unwrap().is_empty());
        }
    }
    assert_eq!(run["columnKind"], "unicodeCodePoints");
}

#[test]
fn sarif_fingerprints_are_stable_and_distinct() {
    let first = parse_json(&run("sarif").stdout);
    let fingerprints = |log: &Value| -> Vec<String> {
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"].to_string())
            .collect()
    };
    let prints = fingerprints(&first);
    assert_eq!(prints, fingerprints(&parse_json(&run("sarif").stdout)));
    // Distinct findings get distinct fingerprints, even two of one comment (dashboards
    // merge results that share one).
    let mut unique = prints.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), prints.len(), "{prints:#?}");
    // A finding keeps its fingerprint when unrelated lines above it move it down.
    let dir = TempDir::new("fingerprint");
    let body = "fn f() {\n    let x = 1; // ctxlint: ignore[CTX003]\n    let _ = x;\n}\n";
    dir.write("a.rs", body);
    let before =
        parse_json(&ctxlint(dir.path(), ["check", "--output-format", "sarif", "a.rs"]).stdout);
    dir.write("a.rs", format!("// a new header\n\n{body}"));
    let after =
        parse_json(&ctxlint(dir.path(), ["check", "--output-format", "sarif", "a.rs"]).stdout);
    assert_eq!(
        after["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        4
    );
    assert_eq!(fingerprints(&before), fingerprints(&after));
}

#[test]
fn sarif_uris_are_percent_encoded() {
    let dir = TempDir::new("sarif-uri");
    dir.write("dir one/ünï #1.rs", "fn f( {}\n");
    let out = ctxlint(dir.path(), ["check", "--output-format", "sarif", "dir one"]);
    out.assert_code(1);
    let log = parse_json(&out.stdout);
    validate_sarif(&log);
    assert_eq!(
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "dir%20one/%C3%BCn%C3%AF%20%231.rs"
    );
}
