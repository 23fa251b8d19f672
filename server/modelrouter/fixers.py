"""Deterministic fixers: tools that may answer an action before any model is asked.

A fixer is a rules entry (`fixers:`): an argv run on a temporary copy of the selection,
never on the user's file. When it changes the copy, the changed text is the answer (cost 0);
when it changes nothing, fails or runs out of time, the request goes on to the models.
The tool runs as an asyncio subprocess with a time cap and an output cap, so a slow or
chatty tool cannot stall the event loop or fill the memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from modelrouter.config import FixerConfig, Rules

# Output a fixer may print before it is stopped (its answer is the file, not the output).
OUTPUT_CAP_BYTES = 1024 * 1024
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


def resolve(program: str) -> str | None:
    """Where `program` is: on PATH, or beside this Python (installed with the package)."""
    found = shutil.which(program)
    if found:
        return found
    beside = Path(sys.executable).parent / program
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


async def _run(argv: list[str], timeout_s: float, cwd: str) -> tuple[int, bytes] | None:
    """Run `argv`: (exit code, output), or None when it could not start, ran past
    `timeout_s` or printed more than OUTPUT_CAP_BYTES."""
    program = await asyncio.to_thread(resolve, argv[0])  # stats PATH: off the event loop
    if program is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            program,
            *argv[1:],
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError:
        return None
    assert proc.stdout is not None
    stdout = proc.stdout

    async def finish() -> tuple[int, bytes] | None:
        chunks: list[bytes] = []
        size = 0
        while size < OUTPUT_CAP_BYTES:
            chunk = await stdout.read(64 * 1024)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        else:
            # Past the cap the tool is stopped, not waited on; what it left is not trusted.
            proc.kill()
            await proc.wait()
            return None
        return await proc.wait(), b"".join(chunks)

    try:
        return await asyncio.wait_for(finish(), timeout_s)
    except TimeoutError:
        return None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


# Version lines by command: a tool's version does not change while this process runs.
_versions: dict[tuple[str, ...], str | None] = {}


async def version_of(fixer: FixerConfig) -> str | None:
    """The fixer's program and version ("typos 1.52.2"), or None when it is not installed."""
    argv = tuple(fixer.version_command or (fixer.command[0], "--version"))
    if argv not in _versions:
        ran = await _run(list(argv), VERSION_TIMEOUT_S, tempfile.gettempdir())
        if ran is None or ran[0] != 0:
            return None
        words = ran[1].decode("utf-8", "replace").split()
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
    # The copy is written, read and removed in worker threads: no disk work on the event loop.
    folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="modelrouter-fix-")
    try:
        copy = Path(folder) / f"selection{suffix}"
        await asyncio.to_thread(copy.write_bytes, selection.encode("utf-8"))
        argv = [
            part.replace("{file}", str(copy)).replace("{suffix}", suffix) for part in fixer.command
        ]
        ran = await _run(argv, fixer.timeout_s, folder)
        if ran is None:
            return None
        try:
            fixed = (await asyncio.to_thread(copy.read_bytes)).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
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
