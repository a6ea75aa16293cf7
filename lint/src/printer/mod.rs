//! Output formats. Each printer writes the sorted findings of a run.

mod concise;
mod full;
mod github;
mod json;
mod sarif;
mod statistics;

use std::io::{self, Write};

use crate::linter::Report;

/// `--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Graphical reports with the source snippet, a label at the span and a help line.
    Full,
    /// One line per finding: `path:row:col: CODE [name] message`.
    Concise,
    /// A JSON array of findings.
    Json,
    /// One JSON object per line.
    JsonLines,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
}

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct PrintOptions {
    /// The format.
    pub format: OutputFormat,
    /// Print a count per rule instead of the findings.
    pub statistics: bool,
    /// Colour (only for `full`; off when not a terminal or `NO_COLOR` is set).
    pub color: bool,
    /// Leave out the summary line.
    pub quiet: bool,
}

/// Writes `report` to `out`.
pub fn print(report: &Report, options: PrintOptions, out: &mut dyn Write) -> io::Result<()> {
    if options.statistics {
        return statistics::write(report, options.format, out);
    }
    match options.format {
        OutputFormat::Full => full::write(report, options, out),
        OutputFormat::Concise => concise::write(report, out),
        OutputFormat::Json => json::write_array(report, out),
        OutputFormat::JsonLines => json::write_lines(report, out),
        OutputFormat::Sarif => sarif::write(report, out),
        OutputFormat::Github => github::write(report, out),
    }
}
