use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::json;

use super::OutputFormat;
use crate::linter::Report;
use crate::registry::Rule;

/// A count per rule, most frequent first (JSON formats get a JSON array).
pub(super) fn write(report: &Report, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
    let mut counts: BTreeMap<Rule, usize> = BTreeMap::new();
    for finding in &report.findings {
        *counts.entry(finding.rule).or_default() += 1;
    }
    let mut rows: Vec<(Rule, usize)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if matches!(format, OutputFormat::Json | OutputFormat::JsonLines) {
        let rows: Vec<_> = rows
            .iter()
            .map(|(rule, count)| json!({"code": rule.code(), "name": rule.name(), "count": count}))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        return writeln!(out);
    }
    let width = rows
        .iter()
        .map(|(_, count)| count.to_string().len())
        .max()
        .unwrap_or(1);
    for (rule, count) in rows {
        writeln!(out, "{count:>width$}\t{}\t[{}]", rule.code(), rule.name())?;
    }
    Ok(())
}
