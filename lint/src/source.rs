//! A file's text and the line index that turns byte offsets into rows and columns.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// A 1-based row and column; columns count characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line number.
    pub row: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// Where each line starts, built once per file so every lookup is a binary search.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`; `\n` ends a line (a `\r` before it stays part of the line).
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(newline_offsets(text.as_bytes()).map(|at| at + 1));
        LineIndex { line_starts }
    }

    /// The 1-based location of byte `offset` (clamped to the text, and to a char boundary).
    pub fn location(&self, text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let line_start = self.line_starts[line];
        // A byte-order mark is not a character of the first line.
        let line_text = &text[line_start..offset];
        let line_text = if line == 0 {
            line_text.strip_prefix('\u{feff}').unwrap_or(line_text)
        } else {
            line_text
        };
        let column = line_text.chars().count() + 1;
        Location {
            row: line + 1,
            column,
        }
    }

    /// The byte range of 1-based `row`, without its line ending.
    pub fn line_range(&self, text: &str, row: usize) -> Option<Range<usize>> {
        let start = *self.line_starts.get(row.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(row)
            .map_or(text.len(), |next| next - 1);
        let end = if text[start..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        Some(start..end)
    }

    /// How many lines the text has.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

/// Where bracket nesting first exceeds `max`, counting brackets in comments and strings too
/// (a false alarm needs hundreds of levels anyway). Recursive-descent parsers and the rules
/// recurse once per level, so a file nested deeper is reported instead of parsed.
pub(crate) fn bracket_depth_exceeds(text: &str, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, byte) in text.bytes().enumerate() {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(at);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn newline_offsets(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &byte)| byte == b'\n')
        .map(|(at, _)| at)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A file being linted: its path as walked, its text and its line index.
#[derive(Debug)]
pub struct SourceFile {
    path: PathBuf,
    text: String,
    lines: LineIndex,
}

impl SourceFile {
    /// A file with `text`; a leading byte-order mark is kept (offsets stay true to the file).
    pub fn new(path: PathBuf, text: String) -> Self {
        let lines = LineIndex::new(&text);
        SourceFile { path, text, lines }
    }

    /// The path as it was walked (or given).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The file's line index.
    pub fn lines(&self) -> &LineIndex {
        &self.lines
    }

    /// The 1-based location of byte `offset`.
    pub fn location(&self, offset: usize) -> Location {
        self.lines.location(&self.text, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_rows_start_at_one() {
        let text = "ab\nçé = x;\r\nlast";
        let index = LineIndex::new(text);
        assert_eq!(index.location(text, 0), Location { row: 1, column: 1 });
        let x = text.find('x').unwrap();
        assert_eq!(index.location(text, x), Location { row: 2, column: 6 });
        assert_eq!(
            index.location(text, text.len()),
            Location { row: 3, column: 5 }
        );
        assert_eq!(index.line_range(text, 2).map(|r| &text[r]), Some("çé = x;"));
        assert_eq!(index.line_count(), 3);
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column() {
        let text = "\u{feff}fn f() {}";
        let index = LineIndex::new(text);
        assert_eq!(index.location(text, 3), Location { row: 1, column: 1 });
        assert_eq!(index.location(text, 6), Location { row: 1, column: 4 });
    }

    #[test]
    fn offsets_inside_a_character_round_down() {
        let text = "é";
        assert_eq!(
            LineIndex::new(text).location(text, 1),
            Location { row: 1, column: 1 }
        );
    }
}
