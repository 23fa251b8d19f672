"""Checks on the text of an edit alone: "unchanged" (it changes nothing, or only
whitespace, where the action must change something) and "scope" (a trivial edit, such as a
typo fix, that changes more than that kind of edit may: the minimal-edit rule of
`minimal_edits`, with comments and strings found by tree-sitter so a typo fix may reword
them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from modelrouter.answer_checks.edit import EditUnderCheck
from modelrouter.grammars import encoded, parse, prose_spans
from modelrouter.minimal_edits import out_of_scope
from modelrouter.positions import LineIndex
from modelrouter.routing.escalation import CheckFailure, Verdict

# What each kind of trivial edit is called in messages.
KIND_NAMES = {
    "typo": "typo fix",
    "rename": "rename",
    "docstring": "docstring",
    "reformat": "reformat",
}
# Comments and strings are looked up in the whole file up to this size, else in the
# selection alone (a string opened above it is then not seen).
WHOLE_FILE_PARSE_CHARS = 2_000_000
SHOWN_CHARS = 60


async def unchanged(edit: EditUnderCheck) -> CheckFailure | None:
    """Fails when the edit leaves the selection as it was, or changes only whitespace."""
    if edit.new == edit.original:
        return CheckFailure(
            "unchanged",
            "did not change the selection",
            feedback="the previous answer did not change the selection; make the change asked for",
        )
    if "".join(edit.new.split()) == "".join(edit.original.split()):
        return CheckFailure(
            "unchanged",
            "changed only whitespace",
            feedback="the previous answer changed only whitespace; make the change asked for",
        )
    return None


def scope(
    kind: str, instruction: str
) -> Callable[[EditUnderCheck], Awaitable[CheckFailure | Verdict | None]]:
    """The scope check of a `kind` edit asked for by `instruction`."""

    async def run(edit: EditUnderCheck) -> CheckFailure | None:
        found = await asyncio.to_thread(_out_of_scope, kind, instruction, edit)
        if found is None:
            return None
        at, old, new = found
        lines = LineIndex(edit.before)
        line = lines.line_of(edit.start + at) + 1
        what = f"{_shown(old)} became {_shown(new)}" if old.strip() else f"added {_shown(new)}"
        name = KIND_NAMES[kind]
        return CheckFailure(
            "scope",
            f"changed more than a {name}",
            f"line {line}: {what}",
            f"the previous answer changed more than a {name} may (line {line}: {what}); "
            "change only what the instruction asks for and copy the rest exactly",
        )

    return run


def _out_of_scope(kind: str, instruction: str, edit: EditUnderCheck) -> tuple[int, str, str] | None:
    prose = tuple(_prose(edit)) if kind == "typo" else ()
    return out_of_scope(kind, instruction, edit.original, edit.new, prose)


def _prose(edit: EditUnderCheck) -> list[tuple[int, int]]:
    """Comment and string spans of the selection, as offsets into it."""
    whole = len(edit.before) <= WHOLE_FILE_PARSE_CHARS
    text = edit.before if whole else edit.original
    base = 0 if whole else edit.start
    data = encoded(text)
    tree = parse(edit.language_id, data)
    if tree is None:
        return []
    start_b = len(encoded(text[: edit.start - base]))
    end_b = start_b + len(encoded(edit.original))
    out = []
    for s, e in prose_spans(tree, start_b, end_b):
        s_char = len(data[:s].decode("utf-8", "surrogatepass")) - (edit.start - base)
        e_char = len(data[:e].decode("utf-8", "surrogatepass")) - (edit.start - base)
        out.append((max(s_char, 0), e_char))
    return out


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…")
