use std::fmt;
use std::io::{self, Write};

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};

use super::PrintOptions;
use crate::diagnostic::Finding;
use crate::linter::Report;
use crate::registry::Severity;
use crate::source::SourceFile;

/// miette's graphical report per finding, then a summary line.
pub(super) fn write(report: &Report, options: PrintOptions, out: &mut dyn Write) -> io::Result<()> {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_context_lines(1);
    for finding in &report.findings {
        let mut rendered = String::new();
        handler
            .render_report(
                &mut rendered,
                &FullFinding {
                    finding,
                    source: IndexedSource(&finding.source),
                },
            )
            .map_err(|error| io::Error::other(error.to_string()))?;
        writeln!(out, "{rendered}")?;
    }
    if options.quiet {
        return Ok(());
    }
    let count = report.findings.len();
    match count {
        0 => writeln!(out, "All checks passed ({}).", files(report.files)),
        1 => writeln!(out, "Found 1 finding in {}.", files(report.files)),
        _ => writeln!(out, "Found {count} findings in {}.", files(report.files)),
    }
}

fn files(count: usize) -> String {
    if count == 1 {
        "1 file".to_string()
    } else {
        format!("{count} files")
    }
}

struct FullFinding<'a> {
    finding: &'a Finding,
    source: IndexedSource<'a>,
}

impl fmt::Debug for FullFinding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FullFinding")
            .field("code", &self.finding.rule.code())
            .finish()
    }
}

impl fmt::Display for FullFinding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.finding.message)
    }
}

impl std::error::Error for FullFinding<'_> {}

impl Diagnostic for FullFinding<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!(
            "{} {}",
            self.finding.rule.code(),
            self.finding.rule.name()
        )))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.finding
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let finding = self.finding;
        let primary = LabeledSpan::new_primary_with_span(
            Some(finding.rule.name().to_string()),
            span(&finding.range),
        );
        let secondary = finding.labels.iter().map(|label| {
            LabeledSpan::new_with_span(Some(label.message.clone()), span(&label.range))
        });
        Some(Box::new(std::iter::once(primary).chain(secondary)))
    }
}

fn span(range: &std::ops::Range<usize>) -> SourceSpan {
    SourceSpan::from(range.start..range.end.max(range.start))
}

/// A `SourceCode` that finds lines through the file's line index: miette's own impl for
/// `str` rescans from the start of the file for every label, quadratic on large files.
struct IndexedSource<'a>(&'a SourceFile);

impl SourceCode for IndexedSource<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let source = self.0;
        let text = source.text();
        let (start, end) = (span.offset(), span.offset() + span.len());
        if end > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let name = source.path().display().to_string();
        let begin = source.location(start);
        if context_lines_before == 0 && context_lines_after == 0 {
            // The span itself: miette takes the report header's row and column from this.
            return Ok(Box::new(MietteSpanContents::new_named(
                name,
                &text.as_bytes()[start..end],
                *span,
                begin.row - 1,
                begin.column - 1,
                source.location(end).row - begin.row + 1,
            )));
        }
        let lines = source.lines();
        let first = begin.row.saturating_sub(context_lines_before).max(1);
        let last = (source.location(end).row + context_lines_after).min(lines.line_count());
        let from = lines.line_range(text, first).map_or(0, |range| range.start);
        let to = lines
            .line_range(text, last)
            .map_or(text.len(), |range| range.end);
        Ok(Box::new(MietteSpanContents::new_named(
            name,
            &text.as_bytes()[from..to],
            SourceSpan::from(from..to),
            first - 1,
            0,
            last - first + 1,
        )))
    }
}
