"""What the language modules hand to the driver."""

from dataclasses import dataclass
from typing import Callable

# Appended to the line an injected snippet's bug must be reported at, then taken out.
MARKER = "\u27e6mutant\u27e7"


@dataclass
class Mutant:
    original: str  # the host file as it is checked unmutated (with any injected snippet)
    mutated: str
    line_original: int  # where the finding must not be in `original`
    line: int  # where the finding must be in `mutated`


@dataclass
class Site:
    path: str  # relative to the corpus root
    origin: str  # "natural" (real code) or "injected" (a snippet added to a real file)
    make: Callable  # make(rng) -> Mutant


def strip_marker(text):
    """`text` without the marker, and the 1-based line the marker was on."""
    at = text.index(MARKER)
    line = text.count("\n", 0, at) + 1
    return text.replace(MARKER, "", 1), line


@dataclass
class Kind:
    code: str
    parse: Callable  # parse(text, path) -> a parsed file, or None
    natural: Callable  # natural(parsed) -> sites of the pattern as written
    natural_needle: Callable  # natural_needle(text) -> whether to parse for natural sites
    injected: Callable = None  # injected(parsed) -> sites where a snippet is injected
    injected_needle: Callable = None
