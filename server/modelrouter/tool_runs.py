"""Running an outside tool on a temporary copy of some text: never on the user's file,
as an asyncio subprocess with a time cap and an output cap, so a slow or chatty tool
cannot stall the event loop or fill the memory. Fixers and answer checks both run this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Output a tool may print before it is stopped.
OUTPUT_CAP_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ToolRun:
    """A tool that ran to its end: its exit code and output (stdout and stderr)."""

    code: int
    output: bytes


@dataclass(frozen=True)
class CopyRun:
    """A tool run on a temporary copy: how it ended and what the copy held afterwards."""

    run: ToolRun
    text: str | None  # the copy after the run; None when it is gone or not UTF-8
    path: str  # where the copy was (gone by now), to take out of the tool's output


def resolve(program: str) -> str | None:
    """Where `program` is: on PATH, or beside this Python (installed with the package)."""
    found = shutil.which(program)
    if found:
        return found
    beside = Path(sys.executable).parent / program
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


async def run_tool(
    argv: Sequence[str], timeout_s: float, cwd: str, env: Mapping[str, str] | None = None
) -> ToolRun | str:
    """Run `argv`: how it ended, or why it did not (not installed, could not start, ran
    past `timeout_s`, printed more than OUTPUT_CAP_BYTES)."""
    program = await asyncio.to_thread(resolve, argv[0])  # stats PATH: off the event loop
    if program is None:
        return f"{argv[0]} is not installed"
    try:
        proc = await asyncio.create_subprocess_exec(
            program,
            *argv[1:],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        return f"{argv[0]} could not start: {exc.strerror or exc}"
    assert proc.stdout is not None
    stdout = proc.stdout

    async def finish() -> ToolRun | str:
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
            return f"{argv[0]} printed more than {OUTPUT_CAP_BYTES // 1024} KiB"
        return ToolRun(await proc.wait(), b"".join(chunks))

    try:
        return await asyncio.wait_for(finish(), timeout_s)
    except TimeoutError:
        return f"{argv[0]} did not finish within {timeout_s:g} s"
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def run_on_copy(
    command: Sequence[str],
    text: str,
    name: str,
    timeout_s: float,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> CopyRun | str:
    """Run `command` on a temporary file `name` holding `text` (`{file}` in the command is
    its path, `{suffix}` its extension, `{dir}` its folder); the copy is removed afterwards.
    A string says why the tool did not run. `cwd` defaults to the copy's folder."""
    # The copy is written, read and removed in worker threads: no disk work on the event loop.
    folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="modelrouter-")
    try:
        copy = Path(folder) / name
        await asyncio.to_thread(copy.write_bytes, text.encode("utf-8", "surrogatepass"))
        suffix = copy.suffix
        argv = [
            part.replace("{file}", str(copy)).replace("{suffix}", suffix).replace("{dir}", folder)
            for part in command
        ]
        ran = await run_tool(argv, timeout_s, cwd or folder, env)
        if isinstance(ran, str):
            return ran
        try:
            after: str | None = (await asyncio.to_thread(copy.read_bytes)).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            after = None
        return CopyRun(ran, after, str(copy))
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
