"""An open document as the editor holds it, and where a range went since a job started.

Incremental `didChange` events are applied with the LSP line rule of `positions` (never
`str.splitlines`), against a line index that is updated around each change instead of being
rebuilt, so a keystroke in a 50 MB file costs a splice and a shift, not a re-read.

While a job is in flight it holds a *mark*: the document then logs each change as a span of
the text it replaced. `map_range` follows a range through that log; a change touching the
range's inside means the range is no longer provably the text the job was about, and it is
refused rather than looked for elsewhere (a textual twin in another function is not the
user's selection).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from modelrouter.positions import LineIndex, Pos, spliced_starts


@dataclass(frozen=True)
class Change:
    """One content change: `[start, end)` of the text before it became `length` characters."""

    start: int
    end: int
    length: int


class Document:
    """The text, version and language of one open document."""

    def __init__(
        self,
        uri: str,
        text: str,
        version: int | None = None,
        language_id: str | None = None,
        encoding: str = "utf-16",
    ) -> None:
        self.uri = uri
        self.version = version
        self.language_id = language_id
        self.encoding = encoding
        self._text = text
        self._index: LineIndex | None = None
        self._log: list[Change] = []
        self._base = 0  # the mark number of `_log[0]`
        self._marks: Counter[int] = Counter()

    @property
    def text(self) -> str:
        """The current text."""
        return self._text

    @property
    def source(self) -> str:
        """The current text (the name pygls' documents use)."""
        return self._text

    @property
    def lines(self) -> LineIndex:
        """The line index of the current text (built on first use)."""
        if self._index is None:
            self._index = LineIndex(self._text)
        return self._index

    def offset_at(self, pos: Pos) -> int:
        """String offset of an LSP position (clamped)."""
        return self.lines.offset_at(pos, self.encoding)

    def position_at(self, offset: int) -> Pos:
        """LSP position of a string offset."""
        return self.lines.position_at(offset, self.encoding)

    def change(self, start: Pos | None, end: Pos | None, text: str) -> Change:
        """Apply one content change (a whole-document one when the range is None)."""
        old = self._text
        if start is None or end is None:
            a, b, text = _changed_span(old, text)
        else:
            a, b = self.offset_at(start), self.offset_at(end)
            if a > b:
                a, b = b, a
        new = old[:a] + text + old[b:]
        if self._index is not None:
            self._index = LineIndex(new, spliced_starts(self._index.starts, len(old), a, b, new))
        self._text = new
        change = Change(a, b, len(text))
        if self._marks:
            self._log.append(change)
        return change

    def replace(self, text: str, version: int | None) -> None:
        """Take a fresh copy of the text (the document was opened again)."""
        self.change(None, None, text)
        self.version = version

    # --- following ranges -----------------------------------------------------------------

    def mark(self) -> int:
        """Start logging changes; `map_range` follows ranges of the current text from here.
        Every mark must be `release`d."""
        number = self._base + len(self._log)
        self._marks[number] += 1
        return number

    def release(self, mark: int) -> None:
        """Stop following ranges from `mark`; the log is dropped when no mark needs it."""
        self._marks[mark] -= 1
        if self._marks[mark] <= 0:
            del self._marks[mark]
        keep_from = min(self._marks, default=self._base + len(self._log))
        del self._log[: keep_from - self._base]
        self._base = keep_from

    def map_range(self, mark: int, start: int, end: int) -> tuple[int, int] | None:
        """Where `[start, end)` of the text at `mark` is now, or None when a change since
        touched the inside of the range (text typed exactly at its start or end is outside
        it)."""
        for c in self._log[mark - self._base :]:
            if c.end <= start:  # wholly before (typed at the start counts as before)
                delta = c.length - (c.end - c.start)
                start, end = start + delta, end + delta
            elif c.start < end:
                return None
        return start, end


def _changed_span(old: str, new: str) -> tuple[int, int, str]:
    """A whole-document change as the one span it replaced: `(start, end, text)` with the
    common prefix and suffix of `old` and `new` left out."""
    prefix = _common_prefix(old, new)
    limit = min(len(old), len(new)) - prefix
    suffix = _common_suffix(old, new, limit)
    return prefix, len(old) - suffix, new[prefix : len(new) - suffix]


def _common_prefix(a: str, b: str) -> int:
    # Binary search over slice comparisons: C-speed even for very large documents.
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid : len(a) - lo] == b[len(b) - mid : len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo
