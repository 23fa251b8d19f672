"""LSP positions: the one line-splitting rule and the one code-unit counter.

The Language Server Protocol ends a line only at `\\r\\n`, `\\r` or `\\n`. Python's
`str.splitlines` also splits at `\\x0b`, `\\x0c`, `\\x1c`-`\\x1e`, `\\x85`, U+2028 and U+2029,
which editors keep inside a line; everything in the server that numbers lines (edits,
context, provenance, the document model) goes through this module so that a line here is
the line the editor shows. Columns are counted in the negotiated position encoding:
UTF-16 code units unless the client chose `utf-8` or `utf-32`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple

LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Pos(NamedTuple):
    """An LSP position; compares in document order."""

    line: int
    character: int


def units(text: str, encoding: str = "utf-16") -> int:
    """Length of `text` in position units of `encoding`."""
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def chars_in(line: str, count: int, encoding: str = "utf-16") -> int:
    """How many characters of `line` the first `count` units cover (clamped to the line;
    a position inside a character's units stops before that character)."""
    if encoding == "utf-32" or line.isascii():
        return min(count, len(line))
    used = 0
    for i, ch in enumerate(line):
        size = units(ch, encoding)
        if used + size > count:
            return i
        used += size
    return len(line)


def split_lines(text: str) -> list[str]:
    """The lines of `text`, each with its line break; no empty last line is added."""
    out = []
    start = 0
    for m in LINE_BREAK.finditer(text):
        out.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out


def strip_break(line: str) -> str:
    """`line` without its line break."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


def line_starts(text: str) -> list[int]:
    """Offsets at which each line starts (the first is 0; a text ending in a line break has
    an empty last line starting at `len(text)`)."""
    if text.count("\r") == text.count("\r\n"):
        # No lone `\r`: lines start after each `\n`, found at C speed (big files).
        starts = list(accumulate(map((1).__add__, map(len, text.split("\n"))), initial=0))
        starts.pop()  # the start after the last line
        return starts
    return [0, *(m.end() for m in LINE_BREAK.finditer(text))]


def line_break_at(text: str, offset: int) -> str:
    """The line break starting at `offset` (`""` when none does)."""
    m = LINE_BREAK.match(text, offset)
    return m.group() if m else ""


def newline_of(text: str) -> str:
    """The line break `text` uses first (`\\n` when it has none): new lines written into a
    document use its own convention."""
    m = LINE_BREAK.search(text)
    return m.group() if m else "\n"


class LineIndex:
    """Line starts of one text, for converting between offsets and positions in O(log n)."""

    def __init__(self, text: str, starts: Sequence[int] | None = None) -> None:
        self.text = text
        self.starts = list(starts) if starts is not None else line_starts(text)

    @property
    def line_count(self) -> int:
        """Number of lines (a trailing line break starts one more, empty line)."""
        return len(self.starts)

    def line_of(self, offset: int) -> int:
        """The line holding `offset`."""
        return bisect.bisect_right(self.starts, offset) - 1

    def line_start(self, line: int) -> int:
        """Offset where `line` starts (clamped to the text)."""
        if line >= len(self.starts):
            return len(self.text)
        return self.starts[max(line, 0)]

    def line_end(self, line: int) -> int:
        """Offset of the end of `line`'s content, before its line break."""
        if line >= len(self.starts):
            return len(self.text)
        if line + 1 < len(self.starts):
            nxt = self.starts[line + 1]
            return nxt - (2 if self.text.startswith("\r\n", nxt - 2) else 1)
        return len(self.text)

    def next_line_start(self, offset: int) -> int:
        """Start of the line after the one holding `offset` (the end of the text on the
        last line)."""
        line = self.line_of(offset)
        return self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)

    def offset_at(self, pos: Pos, encoding: str = "utf-16") -> int:
        """String offset of an LSP position, clamped to its line and to the text."""
        if pos.line >= len(self.starts):
            return len(self.text)
        start = self.starts[pos.line]
        end = self.line_end(pos.line)
        return start + chars_in(self.text[start:end], pos.character, encoding)

    def position_at(self, offset: int, encoding: str = "utf-16") -> Pos:
        """LSP position of a string offset (an offset inside a `\\r\\n` counts as its end
        of line)."""
        offset = max(0, min(offset, len(self.text)))
        line = self.line_of(offset)
        start = self.starts[line]
        offset = min(offset, self.line_end(line))
        return Pos(line, units(self.text[start:offset], encoding))


def offset_at(text: str, pos: Pos, encoding: str = "utf-16") -> int:
    """String offset of an LSP position in `text` (clamped to its line and to the text)."""
    return LineIndex(text).offset_at(pos, encoding)


def position_at(text: str, offset: int, encoding: str = "utf-16") -> Pos:
    """LSP position of a string offset in `text`."""
    return LineIndex(text).position_at(offset, encoding)


def end_after(start: Pos, text: str, encoding: str = "utf-16") -> Pos:
    """The position just after `text` inserted at `start`, taken on its own (a break that
    merges with a neighbouring `\\r` or `\\n` is the caller's to handle)."""
    starts = line_starts(text)
    if len(starts) == 1:
        return Pos(start.line, start.character + units(text, encoding))
    return Pos(start.line + len(starts) - 1, units(text[starts[-1] :], encoding))


def spliced_starts(starts: list[int], old_len: int, start: int, end: int, text: str) -> list[int]:
    """Line starts of `text`, which is a text with line starts `starts` (and length
    `old_len`) whose `[start, end)` was replaced; only the lines around the change are
    scanned, so a keystroke costs a shift of the later starts, not a re-read of the text.

    Separators can merge or split at the edges of a change (`\\r` + `\\n`), so the scan
    covers the line before the change and runs to a line start that lies wholly past it.
    """
    delta = len(text) - old_len
    i = max(bisect.bisect_right(starts, start - 1) - 1, 0)
    lo = starts[i]
    j = bisect.bisect_left(starts, end + 2)
    hi = starts[j] + delta if j < len(starts) else len(text)
    found = [m.end() for m in LINE_BREAK.finditer(text, lo, hi)]
    if j < len(starts) and found and found[-1] == hi:
        found.pop()
    return [*starts[: i + 1], *found, *(s + delta for s in starts[j:])]
