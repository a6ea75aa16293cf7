use std::io::{self, Write};

use crate::linter::Report;
use crate::registry::Severity;

/// GitHub Actions workflow commands; property values and messages are escaped as the
/// runner requires (`%`, CR, LF, and `:`/`,` in properties).
pub(super) fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for finding in &report.findings {
        let level = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(
            out,
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            escape_property(&finding.source.path().display().to_string()),
            finding.start.row,
            finding.start.column,
            finding.end.row,
            finding.end.column,
            escape_property(&format!("{} {}", finding.rule.code(), finding.rule.name())),
            escape_data(&finding.message),
        )?;
    }
    Ok(())
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
