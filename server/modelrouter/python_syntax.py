"""Does an edit break Python syntax? In a big file, checked on the edited statements only.

Parsing a whole 50 MB module twice per answer costs seconds and gigabytes; the edit can only
break the top-level statements it touches. Past SCOPED_FROM_CHARS the check takes the run of
top-level statements around the edit (lines starting at column 0 bound it), widens it until
the original text of that run parses on its own, and parses the edited run; a verdict stands
when a run four times wider agrees, since a column-0 line may sit inside brackets or a
string. Smaller files are parsed whole. It runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import ast
import asyncio
import re

from modelrouter.positions import LineIndex

# Smaller files are parsed whole (exact, and quick at this size).
SCOPED_FROM_CHARS = 500_000
# First characters of lines that cannot begin a top-level statement, and the clauses that
# continue the statement above them.
_NOT_TOP_LEVEL = frozenset(" \t\x0c\r\n#)]}")
_CONTINUATION = re.compile(r"(else|elif|except|finally)\b")


async def edit_breaks_python(
    text: str, start: int, end: int, new_code: str, lines: LineIndex | None = None
) -> str | None:
    """`breaks_python` in a worker thread."""
    return await asyncio.to_thread(breaks_python, text, start, end, new_code, lines)


def breaks_python(
    text: str, start: int, end: int, new_code: str, lines: LineIndex | None = None
) -> str | None:
    """Why replacing `text[start:end]` by `new_code` makes the code stop parsing, or None
    when it still parses or did not parse before (then the edit is not to blame).
    `lines` is `text`'s line index when the caller has one."""
    if len(text) <= SCOPED_FROM_CHARS:
        if _syntax_error(text) is not None:
            return None
        return _verdict(_syntax_error(text[:start] + new_code + text[end:]), 0)
    index = lines or LineIndex(text)
    reach = 1
    previous: str | bool | None = False  # no verdict yet
    while True:
        found = _parsing_span(text, start, end, index, reach)
        if found is None:
            return None
        a, b, first_line, reach = found
        verdict = _verdict(_syntax_error(text[a:start] + new_code + text[end:b]), first_line)
        # A column-0 line may sit inside brackets or a string opened further up: a verdict
        # stands when a run of statements four times wider agrees (or it is the whole file).
        if verdict == previous or (a == 0 and b == len(text)):
            return verdict
        previous = verdict
        reach *= 4


def _verdict(why: tuple[int, str] | None, first_line: int) -> str | None:
    if why is None:
        return None
    lineno, msg = why
    return f"line {lineno + first_line + 1}: {msg}"


def _parsing_span(
    text: str, start: int, end: int, index: LineIndex, reach: int
) -> tuple[int, int, int, int] | None:
    """(start, end, first line, reach) of a run of top-level statements holding
    `[start, end)`, `reach` or more top-level lines on each side, whose original text
    parses; None when even the whole text does not parse."""
    first, last = index.line_of(start), index.line_of(max(start, end - 1))
    while True:
        lo = _top_level_lines(text, index, range(first, -1, -1), reach)
        hi = _top_level_lines(text, index, range(last + 1, index.line_count), reach)
        a = index.line_start(lo) if lo is not None else 0
        b = index.line_start(hi) if hi is not None else len(text)
        if _syntax_error(text[a:b]) is None:
            return a, b, index.line_of(a), reach
        if a == 0 and b == len(text):
            return None
        reach *= 4


def _top_level_lines(text: str, index: LineIndex, lines: range, count: int) -> int | None:
    """The `count`-th line in `lines` that can start a top-level statement (code at column
    0: not blank, indented, a comment, a closing bracket or an `else`-like clause), or
    None."""
    for line in lines:
        s = index.line_start(line)
        if (
            s < len(text)
            and text[s] not in _NOT_TOP_LEVEL
            and not _CONTINUATION.match(text, s)
            and not _decorated(text, index, line)
        ):
            count -= 1
            if count == 0:
                return line
    return None


def _decorated(text: str, index: LineIndex, line: int) -> bool:
    """Whether `line` follows a decorator (only blank or comment lines between)."""
    for above in range(line - 1, -1, -1):
        s = index.line_start(above)
        content = text[s : index.line_end(above)].strip()
        if content.startswith("@"):
            return True
        if content and not content.startswith("#"):
            return False
    return False


def _syntax_error(code: str) -> tuple[int, str] | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return (exc.lineno or 1) - 1, exc.msg
    except ValueError as exc:  # null bytes
        return 0, str(exc)
    return None
