use std::io::{self, Write};

use serde_json::{json, Value};

use crate::diagnostic::Finding;
use crate::linter::Report;

/// The pinned JSON object of one finding.
pub(super) fn finding_json(finding: &Finding) -> Value {
    json!({
        "code": finding.rule.code(),
        "name": finding.rule.name(),
        "message": finding.message,
        "severity": finding.severity.as_str(),
        "filename": finding.source.path().display().to_string(),
        "location": {"row": finding.start.row, "column": finding.start.column},
        "end_location": {"row": finding.end.row, "column": finding.end.column},
        "fix": null,
        "url": finding.rule.url(),
    })
}

/// A JSON array, pretty-printed.
pub(super) fn write_array(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let findings: Vec<Value> = report.findings.iter().map(finding_json).collect();
    serde_json::to_writer_pretty(&mut *out, &findings)?;
    writeln!(out)
}

/// One compact JSON object per line.
pub(super) fn write_lines(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for finding in &report.findings {
        serde_json::to_writer(&mut *out, &finding_json(finding))?;
        writeln!(out)?;
    }
    Ok(())
}
