use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::linter::Report;
use crate::registry::{Rule, Severity};

/// SARIF 2.1.0: every rule in `tool.driver.rules`, relative artifact URIs, and a
/// line-independent fingerprint so dashboards track a finding across unrelated edits.
pub(super) fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule.code(),
                "name": rule.name(),
                "shortDescription": {"text": rule.summary()},
                "fullDescription": {"text": rule.doc()},
                "helpUri": rule.url(),
                "defaultConfiguration": {"level": level(rule.severity())},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let line_text = finding
                .source
                .lines()
                .line_range(finding.source.text(), finding.start.row)
                .map(|range| finding.source.text()[range].trim().to_string())
                .unwrap_or_default();
            json!({
                "ruleId": finding.rule.code(),
                "ruleIndex": Rule::ALL.iter().position(|rule| *rule == finding.rule),
                "level": level(finding.severity),
                "message": {"text": finding.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": relative_uri(finding.source.path())},
                        "region": {
                            "startLine": finding.start.row,
                            "startColumn": finding.start.column,
                            "endLine": finding.end.row,
                            "endColumn": finding.end.column,
                        }
                    }
                }],
                "partialFingerprints": {
                    "ctxlint/v1": fingerprint(&[finding.rule.code(), &relative_uri(finding.source.path()), &line_text, &finding.message]),
                },
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ctxlint",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/ctxlint/ctxlint",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A URI relative to the working directory, `/`-separated, percent-encoded where needed.
fn relative_uri(path: &Path) -> String {
    let relative = path.strip_prefix(".").unwrap_or(path);
    let text = relative.to_string_lossy().replace('\\', "/");
    let mut uri = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(byte as char)
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

/// FNV-1a over the parts: stable across runs and platforms.
fn fingerprint(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
