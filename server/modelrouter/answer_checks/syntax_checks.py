"""The "syntax" check: the edit must not add syntax errors to the file.

Python is parsed by its own `ast` (exact; in files of over 500,000 characters only the
edited top-level statements, see `python_syntax`). Every other language with a grammar is
parsed by tree-sitter, before and after the edit: error and missing nodes of the edited file
that the file before did not have at the same place are the edit's. A file that did not
parse before can still be edited; only new errors count. Parsing runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from modelrouter.answer_checks.edit import EditUnderCheck
from modelrouter.grammars import encoded, error_nodes, parse, parser_for
from modelrouter.positions import LineIndex
from modelrouter.python_syntax import edit_breaks_python
from modelrouter.routing.escalation import CheckFailure, Verdict

# Beyond this many characters a file is not parsed whole twice per answer (tree-sitter is
# linear, but this is memory and seconds); the check is skipped and says so.
TREE_SITTER_MAX_CHARS = 8_000_000


async def syntax(edit: EditUnderCheck) -> CheckFailure | Verdict | None:
    """Fails when the edit introduces a syntax error; skipped for languages without a
    grammar."""
    if edit.language_id == "python":
        broken = await edit_breaks_python(edit.before, edit.start, edit.end, edit.new)
        return None if broken is None else _failure(broken)
    if not await asyncio.to_thread(parser_for, edit.language_id):
        return Verdict.skipped("syntax", f"no grammar for {edit.language_id or 'plain text'}")
    if len(edit.before) + len(edit.new) > TREE_SITTER_MAX_CHARS:
        return Verdict.skipped("syntax", "the file is too large to parse twice")
    where = await asyncio.to_thread(new_error_at, edit)
    return None if where is None else _failure(f"introduced a syntax error at {where}")


def _failure(detail: str) -> CheckFailure:
    return CheckFailure("syntax", "did not parse", detail, f"the code does not parse ({detail})")


def new_error_at(edit: EditUnderCheck) -> str | None:
    """ "line:column" (1-based) of the first error node the edit added, with what is missing
    when tree-sitter says; None when it added none."""
    start_b = len(encoded(edit.before[: edit.start]))
    end_before = len(encoded(edit.before[: edit.end]))
    end_after = start_b + len(encoded(edit.new))
    before_tree = parse(edit.language_id, encoded(edit.before))
    data = encoded(edit.after)
    after_tree = edit.after_tree
    if before_tree is None or after_tree is None:
        return None

    # Errors are placed relative to the edit: before it (same place), inside it (from its
    # start) or after it (from its end), so those the file had are matched wherever the edit
    # moved them.
    def place(s: int, end: int) -> tuple[str, int]:
        if s <= start_b:
            return "before", s
        if s >= end:
            return "after", s - end
        return "inside", s - start_b

    old = Counter((place(s, end_before), kind) for s, _e, kind in error_nodes(before_tree))
    for s, _e, kind in error_nodes(after_tree):
        key = (place(s, end_after), kind)
        if old[key] > 0:
            old[key] -= 1
            continue
        offset = len(data[:s].decode("utf-8", "surrogatepass"))
        lines = LineIndex(edit.after)
        line = lines.line_of(offset)
        where = f"{line + 1}:{offset - lines.line_start(line) + 1}"
        return f"{where} (missing {kind.split(' ', 1)[1]})" if kind != "ERROR" else where
    return None
