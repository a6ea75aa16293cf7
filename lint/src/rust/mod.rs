//! The Rust front end: parsing with `syn`, the shared per-file index, and the helpers
//! every Rust rule uses to recognise context operations.

pub(crate) mod context_calls;
pub(crate) mod index;
pub(crate) mod macros;
pub(crate) mod test_code;

use std::borrow::Cow;
use std::ops::Range;

use proc_macro2::Span;

use crate::diagnostic::Diagnostic;
use crate::file_context::FileContext;
use crate::registry::Rule;
use crate::source::SourceFile;

pub(crate) use index::{FileIndex, ProjectIndex};

/// Deeper bracket nesting than this is reported instead of parsed: a recursive-descent
/// parser would need an unbounded stack, and no hand-written code nests this deep.
pub(crate) const MAX_NESTING: usize = 256;

/// Parses `source` as a Rust file; a file that does not parse becomes a CTX000 diagnostic.
pub(crate) fn parse(source: &SourceFile) -> Result<syn::File, Diagnostic> {
    let text = source.text();
    if let Some(at) = crate::source::bracket_depth_exceeds(text, MAX_NESTING) {
        return Err(Diagnostic::new(
            Rule::SyntaxError,
            at..at,
            format!("nesting is deeper than {MAX_NESTING} levels; the file was not checked"),
        ));
    }
    let parsed = syn::parse_str::<syn::File>(&offset_preserving(text));
    parsed.map_err(|error| {
        let range = byte_range(error.span());
        let message = error.to_string();
        // The tokenizer's own message says nothing about the cause; these are its causes.
        let message = if message == "cannot parse string into token stream" {
            "unbalanced delimiter or unterminated literal".to_string()
        } else {
            message
        };
        Diagnostic::new(Rule::SyntaxError, range, format!("syntax error: {message}"))
    })
}

/// The text with a byte-order mark, a shebang line and a cargo-script frontmatter block
/// blanked out, byte for byte and keeping line breaks, so every span's byte offsets and rows
/// are those of the original file (`syn::parse_file` strips only the first two).
fn offset_preserving(text: &str) -> Cow<'_, str> {
    let bom = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let rest = &text[bom..];
    let shebang = if rest.starts_with("#!") && !rest[2..].trim_start().starts_with('[') {
        rest.find('\n').unwrap_or(rest.len())
    } else {
        0
    };
    let prefix = bom + shebang + frontmatter_len(&text[bom + shebang..]);
    if prefix == 0 {
        return Cow::Borrowed(text);
    }
    let blanked: String = text[..prefix]
        .bytes()
        .map(|byte| if byte == b'\n' { '\n' } else { ' ' })
        .collect();
    Cow::Owned(blanked + &text[prefix..])
}

/// The length of a cargo-script frontmatter block (RFC 3503: a `---cargo` line, the
/// manifest, a closing `---` line) at the start of `text`; 0 when there is none, or when it
/// is never closed (then the parser reports the file).
fn frontmatter_len(text: &str) -> usize {
    let start = text.len() - text.trim_start().len();
    let body = &text[start..];
    let fence = &body[..body.bytes().take_while(|&byte| byte == b'-').count()];
    if fence.len() < 3 {
        return 0;
    }
    let mut line_start = match body.find('\n') {
        Some(end) => end + 1,
        None => return 0,
    };
    while line_start < body.len() {
        let line_end = body[line_start..]
            .find('\n')
            .map_or(body.len(), |end| line_start + end);
        if body[line_start..line_end].trim_end() == fence {
            return start + line_end;
        }
        line_start = line_end + 1;
    }
    0
}

/// The byte range of a span in the file it was parsed from (this thread's last parse).
pub(crate) fn byte_range(span: Span) -> Range<usize> {
    span.byte_range()
}

/// What a Rust rule gets: the file, its syntax tree and index, the crate-wide index.
pub(crate) type RustContext<'a> = FileContext<'a, syn::File, FileIndex, ProjectIndex>;

/// Runs one rule's `check` on a snippet (with the snippet as the whole project), for the
/// rules' unit tests.
#[cfg(test)]
pub(crate) fn check_snippet(code: &str, check: fn(&mut RustContext<'_>)) -> Vec<Diagnostic> {
    let source = SourceFile::new("x.rs".into(), code.to_string());
    let ast = parse(&source).expect("test code parses");
    let index = FileIndex::build(&ast, Default::default());
    let mut project = ProjectIndex::default();
    project.merge(&index);
    let settings = crate::settings::Settings::default();
    let mut context = RustContext::new(
        &source,
        &ast,
        &index,
        &project,
        &settings,
        crate::registry::RuleSet::all(),
    );
    check(&mut context);
    context.into_diagnostics()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_a_bom_and_a_shebang() {
        let text = "\u{feff}#!/usr/bin/env run-cargo-script\nfn main() {}\n";
        let source = SourceFile::new("x.rs".into(), text.to_string());
        let file = parse(&source).expect("parses");
        let syn::Item::Fn(main) = &file.items[0] else {
            panic!("a fn")
        };
        let range = byte_range(main.sig.ident.span());
        assert_eq!(&text[range], "main");
    }

    #[test]
    fn a_cargo_script_frontmatter_is_skipped_and_keeps_offsets() {
        let text = "#!/usr/bin/env -S cargo -Zscript\n---cargo\n[dependencies]\nclap = \"4\" # ünï\n---\n\nfn main() {}\n";
        let source = SourceFile::new("x.rs".into(), text.to_string());
        let file = parse(&source).expect("parses");
        let syn::Item::Fn(main) = &file.items[0] else {
            panic!("a fn")
        };
        assert_eq!(&text[byte_range(main.sig.ident.span())], "main");
        assert_eq!(main.sig.ident.span().start().line, 7);
    }

    #[test]
    fn an_unclosed_frontmatter_is_a_syntax_error() {
        let source = SourceFile::new("x.rs".into(), "---\nfn main() {}\n".to_string());
        assert!(parse(&source).is_err());
    }

    #[test]
    fn a_syntax_error_reports_its_position() {
        let source = SourceFile::new("x.rs".into(), "fn main() {\n    let = 1;\n}\n".into());
        let error = parse(&source).expect_err("does not parse");
        assert_eq!(error.rule, Rule::SyntaxError);
        assert_eq!(source.location(error.range.start).row, 2);
    }

    #[test]
    fn deep_nesting_is_reported_not_parsed() {
        let text = format!("fn f() {{ {}{} }}", "(".repeat(10_000), ")".repeat(10_000));
        let error = parse(&SourceFile::new("x.rs".into(), text)).expect_err("too deep");
        assert!(error.message.contains("nesting"));
    }
}
