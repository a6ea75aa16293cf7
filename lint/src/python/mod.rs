//! The Python front end: parsing with Astral's `ruff_python_parser` and the shared index.
//!
//! The `ruff_python_*` crates say their API is unstable, so this module is the only place
//! that names them: rules import the syntax tree as `python::ast`, walk it with
//! `python::visitor`, and turn nodes into byte ranges with [`range`]. An upgrade of the
//! parser touches this folder.

pub(crate) mod index;

use std::ops::Range;

pub(crate) use ruff_python_ast as ast;
use ruff_python_ast::token::TokenKind;
pub(crate) use ruff_python_ast::visitor;
use ruff_python_ast::PythonVersion;
use ruff_python_parser::{Mode, ParseOptions};
use ruff_text_size::Ranged;

use crate::diagnostic::Diagnostic;
use crate::file_context::FileContext;
use crate::registry::Rule;
use crate::source::SourceFile;

pub(crate) use index::{PyFileIndex, PyProjectIndex};

/// What a Python rule gets: the file, its module and index, the run-wide index.
pub(crate) type PythonContext<'a> = FileContext<'a, ast::ModModule, PyFileIndex, PyProjectIndex>;

/// Deeper nesting than this is reported instead of parsed: the parser and the rules
/// recurse once per level, and no hand-written code nests this deep.
const MAX_NESTING: usize = 200;

/// A parsed file. The parser recovers from errors, so a file with a syntax error still has
/// a module for the rules (its first error is the file's CTX000).
pub(crate) struct Parsed {
    pub(crate) module: ast::ModModule,
    pub(crate) syntax_error: Option<Diagnostic>,
}

/// Parses `source` as a Python module. The newest grammar is accepted (a `match`, PEP 701
/// f-string or `except*` is not an error): ctxlint checks context handling, not the
/// interpreter version a project targets.
pub(crate) fn parse(source: &SourceFile) -> Parsed {
    let text = source.text();
    if let Some(at) = too_deep(text) {
        return Parsed {
            module: ast::ModModule {
                node_index: Default::default(),
                range: Default::default(),
                body: Default::default(),
            },
            syntax_error: Some(Diagnostic::new(
                Rule::SyntaxError,
                at..at,
                format!("nesting is deeper than {MAX_NESTING} levels; the file was not checked"),
            )),
        };
    }
    let options = ParseOptions::from(Mode::Module).with_target_version(PythonVersion::latest());
    let parsed = ruff_python_parser::parse_unchecked(text, options)
        .try_into_module()
        .expect("Mode::Module parses to a module");
    let syntax_error = parsed.errors().first().map(|error| {
        Diagnostic::new(
            Rule::SyntaxError,
            range(&error.location),
            format!("syntax error: {}", error.error),
        )
    });
    Parsed {
        module: parsed.into_syntax(),
        syntax_error,
    }
}

/// The byte range of a node (or of a `TextRange`).
pub(crate) fn range(node: &impl Ranged) -> Range<usize> {
    let range = node.range();
    range.start().to_usize()..range.end().to_usize()
}

/// The byte ranges of the `#` comments in `text`, from the parser's tokens (so a `#` in a
/// string is text). Only files that mention a suppression are tokenized for this.
pub(crate) fn comment_ranges(text: &str) -> Vec<Range<usize>> {
    let parsed = ruff_python_parser::parse_unchecked(text, ParseOptions::from(Mode::Module));
    parsed
        .tokens()
        .iter()
        .filter(|token| token.kind() == TokenKind::Comment)
        .map(range)
        .collect()
}

/// Where nesting first exceeds `MAX_NESTING`: brackets, or indentation (four columns a
/// level, the common style; a false alarm needs hundreds of levels anyway).
fn too_deep(text: &str) -> Option<usize> {
    crate::source::bracket_depth_exceeds(text, MAX_NESTING).or_else(|| {
        let mut line_start = 0;
        text.split_inclusive('\n').find_map(|line| {
            let at = line_start;
            line_start += line.len();
            let indent: usize = line
                .bytes()
                .take_while(|byte| matches!(byte, b' ' | b'\t'))
                .map(|byte| if byte == b'\t' { 8 } else { 1 })
                .sum();
            (indent / 4 > MAX_NESTING).then_some(at)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> SourceFile {
        SourceFile::new("x.py".into(), text.to_string())
    }

    #[test]
    fn modern_syntax_parses() {
        let text = "type Point[T] = tuple[T, T]\ndef f[T](x: T) -> T:\n    match x:\n        case [a, *_]: return a\n    return f\"{x!r:>{10}} {'nested' + \"q\"}\"\ntry:\n    pass\nexcept* ValueError:\n    pass\n";
        let parsed = parse(&source(text));
        assert!(parsed.syntax_error.is_none(), "{:?}", parsed.syntax_error);
        assert_eq!(parsed.module.body.len(), 3);
    }

    #[test]
    fn a_syntax_error_keeps_the_rest_of_the_module() {
        let parsed = parse(&source(
            "def ok():\n    pass\n\nx = (\ndef after():\n    pass\n",
        ));
        let error = parsed.syntax_error.expect("an error");
        assert!(
            error.message.starts_with("syntax error: "),
            "{}",
            error.message
        );
        assert!(parsed.module.body.len() >= 2, "{:?}", parsed.module.body);
    }

    #[test]
    fn comments_skip_strings() {
        let text = "x = '# not a comment'  # a comment\ns = \"\"\"\n# text\n\"\"\"\n# last\n";
        let comments: Vec<&str> = comment_ranges(text)
            .into_iter()
            .map(|range| &text[range])
            .collect();
        assert_eq!(comments, ["# a comment", "# last"]);
    }

    #[test]
    fn deep_nesting_is_a_finding() {
        let parens = format!("x = {}{}\n", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&source(&parens)).syntax_error.is_some());
        let blocks: String = (0..300)
            .map(|level| format!("{}if x:\n", "    ".repeat(level)))
            .collect();
        assert!(parse(&source(&blocks)).syntax_error.is_some());
    }
}
