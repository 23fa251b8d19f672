"""Checks on an answer before it is applied: does the edit it would make do what the action
asked, without breaking the file?

Front ends turn an answer into an `EditUnderCheck` (the file before, the range replaced and
the new text) and `checks_for` chooses the checks by action and language, cheapest first:
"unchanged" (`text_checks`), "syntax" (`syntax_checks`), "scope" (`text_checks`), "layout"
of a reformat (`layout_checks`), "ruff", "collect" and the user's commands (`tool_checks`),
which run outside tools on temporary copies. `on_answers` binds them to answers for
`routing.escalation.run_checked`. Nothing here runs on the event loop: parsing goes to
worker threads, tools to subprocesses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelrouter.answer_checks.edit import EditUnderCheck
from modelrouter.answer_checks.layout_checks import layout
from modelrouter.answer_checks.syntax_checks import syntax
from modelrouter.answer_checks.text_checks import scope, unchanged
from modelrouter.answer_checks.tool_checks import collect, command_check, ruff
from modelrouter.config import Action, Rules
from modelrouter.minimal_edits import edit_kind
from modelrouter.routing.escalation import Check, CheckFailure, Verdict

if TYPE_CHECKING:
    from modelrouter.engine import Outcome

__all__ = ["AnswerCheck", "EditUnderCheck", "checks_for", "on_answers"]

CheckRun = Callable[[EditUnderCheck], Awaitable["CheckFailure | Verdict | None"]]


@dataclass(frozen=True)
class AnswerCheck:
    """One named check on the edit an answer would make."""

    name: str
    run: CheckRun


def checks_for(
    rules: Rules,
    action: Action | None,
    kind: str,
    language_id: str,
    *,
    instruction: str,
    trivial: bool,
) -> list[AnswerCheck]:
    """The checks for an answer of `kind` ("rewrite" or "tests") to `action` on a file in
    `language_id`, cheapest first. `instruction` is what was asked (the action's prompt,
    or the user's words); `trivial`: the action is on the cheapest tier, so a typo fix or
    docstring it asks for must stay that small. Empty when checks are off."""
    settings = rules.checks
    if not settings.enabled or kind not in ("rewrite", "tests"):
        return []
    skip = set(action.skip_checks) if action is not None else set()
    found: list[AnswerCheck] = []
    if kind == "rewrite":
        found.append(AnswerCheck("unchanged", unchanged))
    found.append(AnswerCheck("syntax", syntax))
    kind_of_edit = edit_kind(instruction) if trivial and kind == "rewrite" else None
    if kind_of_edit is not None:
        found.append(AnswerCheck("scope", scope(kind_of_edit, instruction)))
        if kind_of_edit == "reformat":
            found.append(AnswerCheck("layout", layout))
    if language_id == "python":
        found.append(AnswerCheck("ruff", lambda edit: ruff(edit, settings.timeout_s)))
        if kind == "tests":
            found.append(AnswerCheck("collect", lambda edit: collect(edit, settings.timeout_s)))
    for command in settings.commands:
        if not command.languages or language_id in command.languages:
            found.append(AnswerCheck(command.name, command_check(command)))
    return [c for c in found if c.name not in skip]


def on_answers(
    checks: list[AnswerCheck],
    edit_of: Callable[[Outcome], Awaitable[EditUnderCheck | None]],
) -> list[Check]:
    """`checks` as one check on answers: each answer becomes its edit (`edit_of`; None
    when it holds no code to check, which the edit step reports itself), then the checks
    run in order up to the first that fails."""
    if not checks:
        return []

    async def check(outcome: Outcome) -> list[Verdict]:
        edit = await edit_of(outcome)
        if edit is None:
            return []
        verdicts: list[Verdict] = []
        for each in checks:
            found = await each.run(edit)
            if isinstance(found, CheckFailure):
                verdicts.append(Verdict.failed(found))
                break
            verdicts.append(found if found is not None else Verdict(each.name, "passed"))
        return verdicts

    return [check]
