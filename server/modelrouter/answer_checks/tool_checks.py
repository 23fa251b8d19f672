"""Checks that run outside tools on temporary copies of the file before and after the edit
(never on the user's file), as subprocesses capped in time and output (`tool_runs`):

- "ruff": `ruff check --select F` (undefined names, unused or broken imports, ...): more
  findings of a kind in the edited file than in the file before.
- "collect": `python -m pytest --collect-only` on new Python tests: they must be collected.
- the user's commands (`checks.commands`): the command must not fail on the edited file with
  output it did not print for the file before.

A tool that is missing, times out or floods its output leaves the check skipped, never
failed: the answer is not blamed for what could not be looked at.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from modelrouter.answer_checks.edit import EditUnderCheck
from modelrouter.config import CheckCommand
from modelrouter.routing.escalation import CheckFailure, Verdict
from modelrouter.tool_runs import CopyRun, run_on_copy

RUFF = ("ruff", "check", "--isolated", "--no-cache", "--select", "F", "--exit-zero")
RUFF_ARGS = ("--output-format", "json", "{file}")
# How ruff names a syntax error in its JSON (older versions: E999, or no code at all).
SYNTAX_CODES = frozenset({"invalid-syntax", "E999", "None"})
# How much of a failing tool's output the user and the next model are shown.
DETAIL_CHARS = 300
# A module the new tests import that is not installed where the check runs says nothing
# about the tests themselves.
_NOT_INSTALLED = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


async def _both(
    command: tuple[str, ...], edit: EditUnderCheck, timeout_s: float
) -> tuple[CopyRun, CopyRun] | str:
    """`command` on copies of the file before and after the edit (at once), or why not."""
    before, after = await asyncio.gather(
        run_on_copy(command, edit.before, edit.name, timeout_s),
        run_on_copy(command, edit.after, edit.name, timeout_s),
    )
    if isinstance(after, str):
        return after
    if isinstance(before, str):
        return before
    return before, after


async def ruff(edit: EditUnderCheck, timeout_s: float) -> CheckFailure | Verdict | None:
    """New F findings of ruff in the edited Python file."""
    ran = await _both((*RUFF, *RUFF_ARGS), edit, timeout_s)
    if isinstance(ran, str):
        return Verdict.skipped("ruff", ran)
    found = [_findings(r) for r in ran]
    if found[0] is None or found[1] is None:
        return Verdict.skipped("ruff", "ruff's output could not be read")
    # Findings are counted by code: an undefined name that is renamed is no new finding,
    # a second undefined name is.
    before, after = found
    if any(code in SYNTAX_CODES for code, _message, _where in before):
        # Ruff reports only the syntax error of a file that does not parse: every finding
        # after a fix would look new (`improt os` fixed is "`os` imported but unused").
        return Verdict.skipped("ruff", "the file did not parse before the edit")
    old = Counter(code for code, _message, _where in before)
    new = Counter(code for code, _message, _where in after)
    grown = [code for code in new if new[code] > old[code]]
    if not grown:
        return None
    seen = {(code, message) for code, message, _where in before}
    code, message, where = next(
        (f for f in after if f[0] in grown and (f[0], f[1]) not in seen),
        next(f for f in after if f[0] in grown),
    )
    detail = f"{code} {message} at {where}"
    return CheckFailure("ruff", "added a lint error", detail, f"ruff reports {detail}")


def _findings(ran: CopyRun) -> list[tuple[str, str, str]] | None:
    """(code, message, "line:column") of each finding in ruff's JSON output."""
    try:
        items = json.loads(ran.run.output.decode("utf-8", "replace") or "[]")
        return [
            (
                str(i.get("code")),
                str(i.get("message")),
                f"{i['location']['row']}:{i['location']['column']}",
            )
            for i in items
        ]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


async def collect(edit: EditUnderCheck, timeout_s: float) -> CheckFailure | Verdict | None:
    """New Python tests that pytest cannot collect. They are collected from a temporary copy,
    in the project folder so the code under test imports, with the project's own Python
    when it has a `.venv`, and with proxies pointing nowhere so nothing is fetched."""
    project = edit.workspace or (str(Path(edit.path).parent) if edit.path else None)
    python = await asyncio.to_thread(_project_python, project)
    env = dict(os.environ)
    roots = [p for p in (project, _src(project), _folder(edit.path)) if p]
    env["PYTHONPATH"] = os.pathsep.join([*roots, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[var] = "http://127.0.0.1:9"  # the discard port: nothing answers
    command = (python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider")
    # `-c` an empty file: the project's pytest options may need plugins; collection does not.
    ran = await run_on_copy(
        (*command, "-c", os.devnull, "--rootdir", "{dir}", "{file}"),
        edit.after,
        edit.name,
        timeout_s,
        cwd=project,
        env=env,
    )
    if isinstance(ran, str):
        return Verdict.skipped("collect", ran)
    output = ran.run.output.decode("utf-8", "replace").replace(ran.path, edit.name)
    if ran.run.code == 0:
        return None
    missing = _NOT_INSTALLED.search(output)
    no_pytest = missing is not None and missing.group(1).split(".")[0] == "pytest"
    if no_pytest or ran.run.code in (3, 4):  # not installed, internal error, usage error
        return Verdict.skipped("collect", f"pytest could not run: {_first_error(output)}")
    if missing:
        return Verdict.skipped("collect", f"module {missing.group(1)} is not installed")
    if ran.run.code == 5:
        return CheckFailure("collect", "wrote no tests pytest can find", "no tests collected")
    detail = _first_error(output)
    return CheckFailure(
        "collect",
        "wrote tests pytest cannot collect",
        detail,
        f"pytest cannot collect the tests: {detail}",
    )


def _project_python(project: str | None) -> str:
    if project:
        for name in ("bin/python", "Scripts/python.exe"):
            candidate = Path(project) / ".venv" / name
            if candidate.is_file():
                return str(candidate)
    return sys.executable


def _src(project: str | None) -> str | None:
    return str(Path(project) / "src") if project else None


def _folder(path: str | None) -> str | None:
    return str(Path(path).parent) if path else None


def _first_error(output: str) -> str:
    """The line of pytest's output that says what went wrong: the exception it reports
    ("E   ImportError: cannot import name ..."), else the first line naming an error."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    reported = [ln.removeprefix("E").strip() for ln in lines if ln.startswith("E ")]
    named = [ln for ln in reported if "Error" in ln or "Exception" in ln]
    found = named or reported or [ln for ln in lines if "Error" in ln] or lines[-1:]
    return (found[0] if found else "collection failed")[:DETAIL_CHARS]


def command_check(
    command: CheckCommand,
) -> Callable[[EditUnderCheck], Awaitable[CheckFailure | Verdict | None]]:
    """The user's `command` as a check."""

    async def run(edit: EditUnderCheck) -> CheckFailure | Verdict | None:
        ran = await _both(command.command, edit, command.timeout_s)
        if isinstance(ran, str):
            return Verdict.skipped(command.name, ran)
        before, after = ran
        if after.run.code == 0:
            return None
        old = set(_lines(before, edit.name))
        new = [ln for ln in _lines(after, edit.name) if ln not in old]
        if before.run.code != 0 and not new:
            return None  # it failed the same way before the edit
        detail = (new[0] if new else f"exit status {after.run.code}")[:DETAIL_CHARS]
        return CheckFailure(
            command.name,
            f"failed {command.name}",
            detail,
            f"{command.name} reports: {detail}",
        )

    return run


def _lines(ran: CopyRun, name: str) -> list[str]:
    text = ran.run.output.decode("utf-8", "replace").replace(ran.path, name)
    return [ln.strip() for ln in text.splitlines() if ln.strip()]
