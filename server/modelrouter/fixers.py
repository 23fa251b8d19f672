"""Deterministic fixers: tools that may answer an action before any model is asked.

A fixer is a rules entry (`fixers:`): an argv run on a temporary copy of the selection,
never on the user's file. When it changes the copy, the changed text is the answer (cost 0);
when it changes nothing, fails or runs out of time, the request goes on to the models.
The tool runs as `tool_runs` runs every outside tool: a subprocess off the event loop,
capped in time and output.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from modelrouter.config import FixerConfig, Rules
from modelrouter.tool_runs import resolve, run_on_copy, run_tool

VERSION_TIMEOUT_S = 5.0
# File extensions for the temporary copy, so tools pick the right language.
SUFFIXES = {
    "python": ".py",
    "javascript": ".js",
    "typescript": ".ts",
    "typescriptreact": ".tsx",
    "javascriptreact": ".jsx",
    "rust": ".rs",
    "go": ".go",
    "java": ".java",
    "c": ".c",
    "cpp": ".cpp",
    "ruby": ".rb",
    "lua": ".lua",
    "markdown": ".md",
    "shellscript": ".sh",
}


@dataclass(frozen=True)
class FixerAnswer:
    """The selection as a fixer rewrote it."""

    fixer: str
    version: str  # "typos 1.52.2", or the fixer's name when it reports none
    text: str
    elapsed_s: float


def fixers_for(rules: Rules, action: str | None, language_id: str | None) -> list[FixerConfig]:
    """The fixers that may answer `action` on a file in `language_id`, in rules order."""
    if action is None:
        return []
    return [
        f
        for f in rules.fixers.values()
        if action in f.actions and (not f.languages or language_id in f.languages)
    ]


def fixers_for_request(rules: Rules, text: str, language_id: str | None) -> list[FixerConfig]:
    """The fixers a free-form request (`ask`) calls for by its words."""
    words = text.lower()
    return [
        f
        for f in rules.fixers.values()
        if any(w.lower() in words for w in f.requests)
        and (not f.languages or language_id in f.languages)
    ]


def suffix_for(language_id: str | None, path: str | None = None) -> str:
    """The extension the temporary copy gets: the file's own, else the language's."""
    if path:
        own = Path(path).suffix
        if own:
            return own
    return SUFFIXES.get(language_id or "", ".txt")


# Version lines by command: a tool's version does not change while this process runs.
_versions: dict[tuple[str, ...], str | None] = {}


async def version_of(fixer: FixerConfig) -> str | None:
    """The fixer's program and version ("typos 1.52.2"), or None when it is not installed."""
    argv = tuple(fixer.version_command or (fixer.command[0], "--version"))
    if argv not in _versions:
        ran = await run_tool(argv, VERSION_TIMEOUT_S, tempfile.gettempdir())
        if isinstance(ran, str) or ran.code != 0:
            return None
        words = ran.output.decode("utf-8", "replace").split()
        # "typos-cli 1.52.2" / "ruff 0.17.6": the program as the rules name it, and the number.
        _versions[argv] = f"{Path(fixer.command[0]).name} {words[-1]}" if words else None
    return _versions[argv]


class FixerStatus(TypedDict):
    """One fixer as `doctor` reports it: whether its program is found, its version, and the
    actions it answers."""

    name: str
    found: bool
    path: str | None
    version: str | None
    actions: list[str]


async def statuses(rules: Rules) -> list[FixerStatus]:
    """Each fixer of the rules, looked up and asked for its version (off the event loop)."""
    found: list[FixerStatus] = []
    for fixer in rules.fixers.values():
        program = await asyncio.to_thread(resolve, fixer.command[0])
        version = await version_of(fixer) if program else None
        found.append(
            FixerStatus(
                name=fixer.name,
                found=program is not None,
                path=program,
                version=version,
                actions=list(fixer.actions),
            )
        )
    return found


async def run_fixer(
    fixer: FixerConfig, selection: str, suffix: str, *, version: str | None = None
) -> FixerAnswer | None:
    """`selection` as `fixer` rewrites it, or None when it changed nothing or failed."""
    started = time.perf_counter()
    ran = await run_on_copy(fixer.command, selection, f"selection{suffix}", fixer.timeout_s)
    if isinstance(ran, str) or ran.text is None:
        return None
    fixed = ran.text
    if fixed == selection or not fixed.strip():
        return None
    if version is None:
        version = await version_of(fixer) or fixer.name
    return FixerAnswer(fixer.name, version, fixed, time.perf_counter() - started)


async def first_fix(fixers: list[FixerConfig], selection: str, suffix: str) -> FixerAnswer | None:
    """The first fixer's answer that changes `selection`, trying them in order."""
    for fixer in fixers:
        answer = await run_fixer(fixer, selection, suffix)
        if answer is not None:
            return answer
    return None
