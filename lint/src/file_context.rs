//! What a rule gets for one file, whatever the language: the file, its syntax tree, its
//! index and its project's index, the settings, and where findings go.

use crate::diagnostic::Diagnostic;
use crate::registry::{Rule, RuleSet};
use crate::settings::Settings;
use crate::source::SourceFile;

/// One file under check; `Syntax`, `Index` and `Project` are the language front end's.
pub(crate) struct FileContext<'a, Syntax, Index, Project> {
    pub(crate) source: &'a SourceFile,
    pub(crate) ast: &'a Syntax,
    pub(crate) index: &'a Index,
    pub(crate) project: &'a Project,
    pub(crate) settings: &'a Settings,
    enabled: RuleSet,
    diagnostics: Vec<Diagnostic>,
}

impl<'a, Syntax, Index, Project> FileContext<'a, Syntax, Index, Project> {
    pub(crate) fn new(
        source: &'a SourceFile,
        ast: &'a Syntax,
        index: &'a Index,
        project: &'a Project,
        settings: &'a Settings,
        enabled: RuleSet,
    ) -> Self {
        FileContext {
            source,
            ast,
            index,
            project,
            settings,
            enabled,
            diagnostics: Vec::new(),
        }
    }

    /// Whether `rule` runs on this file (rules skip their work otherwise).
    pub(crate) fn enabled(&self, rule: Rule) -> bool {
        self.enabled.contains(rule)
    }

    /// Records a finding.
    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        if self.enabled(diagnostic.rule) {
            self.diagnostics.push(diagnostic);
        }
    }

    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }
}
