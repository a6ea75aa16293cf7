//! `// ctxlint: ignore[CTX003] reason` (this line or the next) and
//! `// ctxlint: ignore-file[CTX002] reason` — `#` comments in Python, where ruff's
//! `# noqa: CTX003` (this line) works too; suppressions that suppress nothing are reported.

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

pub(crate) const MARKER: &str = "ctxlint:";
const NOQA: &str = "noqa";

/// Removes suppressed diagnostics and adds one CTX100 per rule of a suppression that
/// suppressed nothing (only for rules that ran: a disabled rule's suppression is not stale).
/// `comments` finds the byte ranges of the file's line comments (the language's lexer); it
/// only runs on files that mention a suppression at all.
pub(crate) fn apply(
    source: &SourceFile,
    comments: fn(&str) -> Vec<Range<usize>>,
    diagnostics: Vec<Diagnostic>,
    enabled: RuleSet,
) -> Vec<Diagnostic> {
    let text = source.text();
    if !text.contains(MARKER) && !text.contains(NOQA) {
        return diagnostics;
    }
    let mut suppressions = parse(source, comments(text));
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
        // A file that was not checked is always reported.
        if rule == Rule::SyntaxError {
            return false;
        }
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

/// Finds suppression comments among the file's `comments`.
fn parse(source: &SourceFile, comments: Vec<Range<usize>>) -> Vec<Suppression> {
    let text = source.text();
    comments
        .into_iter()
        .filter_map(|comment| {
            let location = source.location(comment.start);
            let line_start = text[..comment.start].rfind('\n').map_or(0, |at| at + 1);
            let standalone = text[line_start..comment.start]
                .trim_start_matches('\u{feff}')
                .trim()
                .is_empty();
            parse_comment(&text[comment.clone()], comment, location.row, standalone)
        })
        .collect()
}

fn parse_comment(
    comment: &str,
    range: Range<usize>,
    row: usize,
    standalone: bool,
) -> Option<Suppression> {
    let body = comment.trim_start_matches(['/', '#']).trim_start();
    let Some(rest) = body.strip_prefix(MARKER) else {
        // `noqa` is ruff's, so Python's: a Rust comment that mentions it is prose.
        return comment
            .starts_with('#')
            .then(|| parse_noqa(comment, range, row))
            .flatten();
    };
    let rest = rest.trim_start();
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
    let last_row = if standalone { row + 1 } else { row };
    let end = range.start + comment.trim_end().len();
    Some(Suppression {
        range: range.start..end,
        rows: (!file_wide).then_some((row, last_row)),
        used: vec![false; rules.len()],
        rules,
    })
}

/// ruff's `# noqa: CTX003, E501` anywhere in a comment (after other text too, as in
/// `# type: ignore  # noqa: CTX003`): it covers its own line, and only the codes it names —
/// a bare `# noqa` is another tool's and does not silence ctxlint.
fn parse_noqa(comment: &str, range: Range<usize>, row: usize) -> Option<Suppression> {
    let lower = comment.to_ascii_lowercase();
    let (hash, at) = lower.match_indices(NOQA).find_map(|(at, _)| {
        let hash = lower[..at].trim_end();
        hash.ends_with('#').then(|| (hash.len() - 1, at))
    })?;
    let list = comment[at + NOQA.len()..].trim_start().strip_prefix(':')?;
    // The codes run until the first word that is not a code (a reason, another comment).
    let rules: Vec<Rule> = list
        .split([',', ' ', '\t'])
        .filter(|item| !item.is_empty())
        .take_while(|item| is_code_like(item))
        .filter_map(|item| item.parse().ok())
        .collect();
    if rules.is_empty() {
        return None;
    }
    Some(Suppression {
        range: range.start + hash..range.start + comment.trim_end().len(),
        rows: Some((row, row)),
        used: vec![false; rules.len()],
        rules,
    })
}

/// `CTX003`, `E501`, `RUF100`: letters, then digits.
fn is_code_like(word: &str) -> bool {
    let digits = word.trim_start_matches(|c: char| c.is_ascii_uppercase());
    digits.len() < word.len() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The byte ranges of the `//` comments in Rust source, skipping string, raw-string and
/// character literals and block comments, so `"// ctxlint: ignore[..]"` in a string is text.
pub(crate) fn rust_comments(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut comments = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                let end = text[at..].find('\n').map_or(text.len(), |len| at + len);
                comments.push(at..end);
                at = end;
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => at = skip_block_comment(bytes, at),
            b'r' if is_raw_string_start(bytes, at) => at = skip_raw_string(bytes, at),
            b'"' => at = skip_string(bytes, at),
            b'\'' => at = skip_char_literal(bytes, at),
            _ => at += 1,
        }
    }
    comments
}

fn skip_block_comment(bytes: &[u8], mut at: usize) -> usize {
    let mut depth = 0;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'/', b'*') => {
                depth += 1;
                at += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return at;
                }
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

fn skip_string(bytes: &[u8], mut at: usize) -> usize {
    at += 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// `r"..."`, `r#"..."#`, `br"..."` — but not an identifier ending in `r`.
fn is_raw_string_start(bytes: &[u8], at: usize) -> bool {
    let after_ident = at > 0
        && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_')
        && bytes[at - 1] != b'b';
    let mut next = at + 1;
    while bytes.get(next) == Some(&b'#') {
        next += 1;
    }
    !after_ident && bytes.get(next) == Some(&b'"')
}

fn skip_raw_string(bytes: &[u8], at: usize) -> usize {
    let hashes = bytes[at + 1..]
        .iter()
        .take_while(|&&byte| byte == b'#')
        .count();
    let mut at = at + 1 + hashes + 1;
    while at < bytes.len() {
        if bytes[at] == b'"'
            && bytes[at + 1..]
                .iter()
                .take(hashes)
                .filter(|&&byte| byte == b'#')
                .count()
                == hashes
        {
            return at + 1 + hashes;
        }
        at += 1;
    }
    bytes.len()
}

/// A character literal (`'a'`, `'\n'`, `'\''`); a lifetime (`'a`) is skipped as one byte.
fn skip_char_literal(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at + 1) {
        Some(b'\\') => {
            let close = bytes[at + 2..]
                .iter()
                .skip(1)
                .position(|&byte| byte == b'\'');
            close.map_or(at + 1, |len| at + 3 + len + 1)
        }
        Some(_) => {
            // One character (up to 4 UTF-8 bytes) then a quote, or a lifetime/label.
            let close = (at + 2..(at + 6).min(bytes.len())).find(|&end| bytes[end] == b'\'');
            match close {
                Some(end)
                    if std::str::from_utf8(&bytes[at + 1..end])
                        .is_ok_and(|c| c.chars().count() == 1) =>
                {
                    end + 1
                }
                _ => at + 1,
            }
        }
        None => at + 1,
    }
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
        let kept = apply(&source, rust_comments, diagnostics, RuleSet::all());
        let rows: Vec<_> = kept
            .iter()
            .map(|d| source.location(d.range.start).row)
            .collect();
        assert_eq!(rows, [4]);
    }

    #[test]
    fn noqa_names_codes_and_covers_its_own_line_only() {
        let text = "a()  # noqa: CTX003, E501 reviewed\nb()  # noqa\n# noqa: CTX003\nc()\nd()  # type: ignore  # NOQA:CTX001\n";
        let source = SourceFile::new("a.py".into(), text.into());
        let diagnostics = [
            (1, Rule::UnpropagatedSpawn),
            (2, Rule::UnpropagatedSpawn),
            (4, Rule::UnpropagatedSpawn),
            (5, Rule::SetWithoutReset),
        ]
        .into_iter()
        .map(|(row, rule)| at_row(&source, rule, row))
        .collect();
        let kept = apply(
            &source,
            crate::python::comment_ranges,
            diagnostics,
            RuleSet::all(),
        );
        let found: Vec<_> = kept
            .iter()
            .map(|d| (source.location(d.range.start).row, d.rule.code()))
            .collect();
        // Bare `# noqa` is another tool's; a standalone noqa covers only its own line (and
        // is then unused).
        assert_eq!(found, [(2, "CTX003"), (4, "CTX003"), (3, "CTX100")]);
    }

    #[test]
    fn noqa_in_a_rust_comment_is_not_a_suppression() {
        let text = "/// ruff's `# noqa: CTX003` syntax\nspawn();\n";
        let source = SourceFile::new("a.rs".into(), text.into());
        let kept = apply(
            &source,
            rust_comments,
            vec![at_row(&source, Rule::UnpropagatedSpawn, 1)],
            RuleSet::all(),
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].rule, Rule::UnpropagatedSpawn);
    }

    #[test]
    fn comments_inside_strings_and_chars_are_not_comments() {
        let text = "let a = \"// not\"; let b = r#\"// no\"#; let c = '\"'; let d: &'static str = x; // yes\n/* // no */ // also\n";
        let found: Vec<&str> = rust_comments(text)
            .into_iter()
            .map(|range| &text[range])
            .collect();
        assert_eq!(found, ["// yes", "// also"]);
    }

    #[test]
    fn file_suppressions_and_unused_ones() {
        let text = "// ctxlint: ignore-file[CTX002] scratch buffers\n// ctxlint: ignore[CTX001]\nfn f() {}\n";
        let source = SourceFile::new("a.rs".into(), text.into());
        let kept = apply(
            &source,
            rust_comments,
            vec![at_row(&source, Rule::ThreadLocalInAsync, 3)],
            RuleSet::all(),
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].rule, Rule::UnusedSuppression);
        assert_eq!(source.location(kept[0].range.start).row, 2);
    }
}
