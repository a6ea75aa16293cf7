//! What rules report, and the resolved findings printers show.

use std::ops::Range;
use std::sync::Arc;

use crate::registry::{Rule, Severity};
use crate::source::{Location, SourceFile};

/// A secondary span that explains a finding (an `.await` the guard is held across).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Byte range in the file.
    pub range: Range<usize>,
    /// What this place has to do with the finding.
    pub message: String,
}

/// One problem a rule found, in byte offsets of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The rule that found it.
    pub rule: Rule,
    /// One sentence, code in backticks.
    pub message: String,
    /// The narrowest range that shows the problem.
    pub range: Range<usize>,
    /// What to do instead, in the imperative.
    pub help: Option<String>,
    /// Related places.
    pub labels: Vec<Label>,
}

impl Diagnostic {
    /// A finding of `rule` at `range`.
    pub fn new(rule: Rule, range: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            rule,
            message: message.into(),
            range,
            help: None,
            labels: Vec::new(),
        }
    }

    /// Adds what to do instead.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a related place.
    pub fn with_label(mut self, range: Range<usize>, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            range,
            message: message.into(),
        });
        self
    }
}

/// A diagnostic resolved against its file, ready to print.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The file, shared by all its findings.
    pub source: Arc<SourceFile>,
    /// The rule.
    pub rule: Rule,
    /// Severity (the rule's).
    pub severity: Severity,
    /// One sentence.
    pub message: String,
    /// What to do instead.
    pub help: Option<String>,
    /// Byte range in the file.
    pub range: Range<usize>,
    /// Start of the range.
    pub start: Location,
    /// End of the range.
    pub end: Location,
    /// Related places.
    pub labels: Vec<Label>,
}

impl Finding {
    /// Resolves `diagnostic` in `source`.
    pub fn new(source: Arc<SourceFile>, diagnostic: Diagnostic) -> Self {
        let start = source.location(diagnostic.range.start);
        let end = source.location(diagnostic.range.end);
        Finding {
            rule: diagnostic.rule,
            severity: diagnostic.rule.severity(),
            message: diagnostic.message,
            help: diagnostic.help,
            range: diagnostic.range,
            labels: diagnostic.labels,
            start,
            end,
            source,
        }
    }

    /// The sort key that makes output deterministic: file, row, column, code.
    pub fn sort_key(&self) -> (&std::path::Path, Location, Rule) {
        (self.source.path(), self.start, self.rule)
    }
}
