//! `// ctxlint: ignore[CTX003] reason` (this line or the next) and
//! `// ctxlint: ignore-file[CTX002] reason`; suppressions that suppress nothing are reported.

use std::ops::Range;

use crate::diagnostic::Diagnostic;
use crate::registry::{Rule, RuleSet};
use crate::source::SourceFile;

/// One suppression comment.
#[derive(Debug)]
struct Suppression {
    /// The comment's range (where an unused suppression is reported).
    range: Range<usize>,
    /// The 1-based rows it covers: its own, and the next one when the comment stands on a
    /// line of its own (a trailing comment covers only its line); `None` for a whole file.
    rows: Option<(usize, usize)>,
    rules: Vec<Rule>,
    used: Vec<bool>,
}

const MARKER: &str = "ctxlint:";

/// Removes suppressed diagnostics and adds one CTX100 per rule of a suppression that
/// suppressed nothing (only for rules that ran: a disabled rule's suppression is not stale).
pub(crate) fn apply(
    source: &SourceFile,
    diagnostics: Vec<Diagnostic>,
    enabled: RuleSet,
) -> Vec<Diagnostic> {
    let mut suppressions = parse(source);
    if suppressions.is_empty() {
        return diagnostics;
    }
    let mut kept: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|diagnostic| {
            let row = source.location(diagnostic.range.start).row;
            !suppressions
                .iter_mut()
                .any(|suppression| suppression.suppresses(diagnostic.rule, row))
        })
        .collect();
    if enabled.contains(Rule::UnusedSuppression) {
        for suppression in &suppressions {
            for (rule, used) in suppression.rules.iter().zip(&suppression.used) {
                if !used && enabled.contains(*rule) {
                    kept.push(
                        Diagnostic::new(
                            Rule::UnusedSuppression,
                            suppression.range.clone(),
                            format!("unused suppression of `{}` ({})", rule.code(), rule.name()),
                        )
                        .with_help("remove the suppression; nothing here triggers the rule"),
                    );
                }
            }
        }
    }
    kept
}

impl Suppression {
    fn suppresses(&mut self, rule: Rule, row: usize) -> bool {
        let applies = match self.rows {
            None => true,
            Some((first, last)) => (first..=last).contains(&row),
        };
        if !applies {
            return false;
        }
        match self.rules.iter().position(|candidate| *candidate == rule) {
            Some(at) => {
                self.used[at] = true;
                true
            }
            None => false,
        }
    }
}

/// Finds suppression comments line by line (they are comments, so not in the syntax tree).
fn parse(source: &SourceFile) -> Vec<Suppression> {
    let text = source.text();
    let mut found = Vec::new();
    let mut offset = 0;
    for (line_number, line) in text.split_inclusive('\n').enumerate() {
        if let Some(suppression) = parse_line(line, offset, line_number + 1) {
            found.push(suppression);
        }
        offset += line.len();
    }
    found
}

fn parse_line(line: &str, offset: usize, row: usize) -> Option<Suppression> {
    let comment = line.find("//")?;
    let body = line[comment + 2..].trim_start_matches('/').trim_start();
    let rest = body.strip_prefix(MARKER)?.trim_start();
    let (file_wide, rest) = match rest.strip_prefix("ignore-file[") {
        Some(rest) => (true, rest),
        None => (false, rest.strip_prefix("ignore[")?),
    };
    let list = &rest[..rest.find(']')?];
    let rules: Vec<Rule> = list
        .split(',')
        .filter_map(|item| item.trim().parse().ok())
        .collect();
    if rules.is_empty() {
        return None;
    }
    let end = offset + line.trim_end().len();
    let standalone = line[..comment].trim().is_empty();
    let last_row = if standalone { row + 1 } else { row };
    Some(Suppression {
        range: offset + comment..end,
        rows: (!file_wide).then_some((row, last_row)),
        used: vec![false; rules.len()],
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_row(source: &SourceFile, rule: Rule, row: usize) -> Diagnostic {
        let start = source.lines().line_range(source.text(), row).unwrap().start;
        Diagnostic::new(rule, start..start + 1, "x")
    }

    #[test]
    fn line_suppressions_cover_their_line_and_the_next() {
        let text = "// ctxlint: ignore[CTX003] handled by the pool\nspawn();\nspawn(); // ctxlint: ignore[unpropagated-spawn]\nspawn();\n";
        let source = SourceFile::new("a.rs".into(), text.into());
        let diagnostics = (2..=4)
            .map(|row| at_row(&source, Rule::UnpropagatedSpawn, row))
            .collect();
        let kept = apply(&source, diagnostics, RuleSet::all());
        let rows: Vec<_> = kept
            .iter()
            .map(|d| source.location(d.range.start).row)
            .collect();
        assert_eq!(rows, [4]);
    }

    #[test]
    fn file_suppressions_and_unused_ones() {
        let text = "// ctxlint: ignore-file[CTX002] scratch buffers\n// ctxlint: ignore[CTX001]\nfn f() {}\n";
        let source = SourceFile::new("a.rs".into(), text.into());
        let kept = apply(
            &source,
            vec![at_row(&source, Rule::ThreadLocalInAsync, 3)],
            RuleSet::all(),
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].rule, Rule::UnusedSuppression);
        assert_eq!(source.location(kept[0].range.start).row, 2);
    }
}
