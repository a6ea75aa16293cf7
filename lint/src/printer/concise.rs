use std::io::{self, Write};

use crate::linter::Report;

/// `path:row:col: CTX001 [set-without-reset] message`.
pub(super) fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for finding in &report.findings {
        writeln!(
            out,
            "{}:{}:{}: {} [{}] {}",
            finding.source.path().display(),
            finding.start.row,
            finding.start.column,
            finding.rule.code(),
            finding.rule.name(),
            finding.message
        )?;
    }
    Ok(())
}
