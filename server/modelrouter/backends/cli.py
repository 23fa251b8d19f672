"""A command-line tool as a backend: argv (no shell), prompt on stdin, answer on stdout.

The child gets only an allow-listed environment (basics like PATH/HOME/LANG, the backend's
own key variable and `env_allow`), so keys meant for other backends never reach it. Output
is capped; cancelling the stream kills the whole process group at once.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator

from modelrouter.backends.base import BackendError, Message, StreamDone, StreamEvent, TextDelta
from modelrouter.config import BackendConfig
from modelrouter.redact import scrub
from modelrouter.tokens import estimate_tokens
from modelrouter.transcript import to_prompt, transcript_tokens

BASE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMPDIR",
    "TZ",
    "SYSTEMROOT",
)
_STDERR_KEEP = 4096
_READ_SIZE = 4096
_REAP_TIMEOUT_S = 5.0


def child_env(config: BackendConfig) -> dict[str, str]:
    """The environment the tool runs with: the basics plus what its rules entry allows."""
    names = [*BASE_ENV, *config.env_allow]
    if config.api_key_env:
        names.append(config.api_key_env)
    return {name: os.environ[name] for name in names if name in os.environ}


def unusable_reason(config: BackendConfig) -> str | None:
    """Why the tool cannot run here: no command configured, or not on PATH."""
    if not config.command:
        return "no command configured"
    if shutil.which(config.command[0]) is None:
        return f"command not found on PATH: {config.command[0]}"
    return None


class CliBackend:
    """Runs `config.command` per request."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    async def stream(self, messages: list[Message]) -> AsyncIterator[StreamEvent]:
        """Stream the tool's stdout; see `backends.base.Backend.stream`."""
        cfg = self.config
        if not cfg.command:
            raise BackendError("unavailable", f"{cfg.name}: no command configured")
        prompt = to_prompt(messages)
        try:
            proc = await asyncio.create_subprocess_exec(
                *cfg.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=child_env(cfg),
                start_new_session=True,  # its own process group, so kill reaches its children
            )
        except OSError as exc:
            raise BackendError(
                "unavailable", f"{cfg.name}: cannot run {cfg.command[0]!r}: {exc.strerror}"
            ) from None
        stderr_tail = asyncio.ensure_future(_tail(proc.stderr))
        # Fed concurrently: a tool that writes before reading all of a large prompt would
        # otherwise block on a full stdout pipe while we block on its full stdin pipe.
        feeder = asyncio.ensure_future(_feed(proc, prompt.encode()))
        try:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            received = 0
            parts: list[str] = []
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(_READ_SIZE):
                received += len(chunk)
                if received > cfg.max_output_bytes:
                    raise BackendError(
                        "process",
                        f"{cfg.name}: output exceeded {cfg.max_output_bytes} bytes; stopped",
                    )
                text = decoder.decode(chunk)
                if text:
                    parts.append(text)
                    yield TextDelta(text)
            text = decoder.decode(b"", final=True)
            if text:
                parts.append(text)
                yield TextDelta(text)
            code = await proc.wait()
            if code != 0:
                err = (await stderr_tail).decode("utf-8", "replace")
                # Tools echo credentials in their errors; those must not reach the user's log.
                err = scrub(err, known=[cfg.api_key() or ""]).strip()
                detail = f": {' '.join(err.split()[-60:])}" if err else ""
                raise BackendError(
                    "process", f"{cfg.name}: {cfg.command[0]} exited with status {code}{detail}"
                )
            usage_out = estimate_tokens("".join(parts))
            yield StreamDone(
                _estimated(messages, usage_out), cfg.model or os.path.basename(cfg.command[0])
            )
        finally:
            if proc.returncode is None:
                _kill(proc)
            feeder.cancel()
            await _reap(proc, stderr_tail)


def _estimated(messages: list[Message], output_tokens: int):
    from modelrouter.backends.base import Usage

    return Usage(transcript_tokens(messages), output_tokens, estimated=True)


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    """Write the prompt and close stdin; a tool that exits without reading it is fine."""
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
    proc.stdin.close()


async def _tail(stream: asyncio.StreamReader | None) -> bytes:
    """Read a pipe to the end, keeping its last few KB (for the error message)."""
    kept = b""
    if stream is None:
        return kept
    while chunk := await stream.read(_READ_SIZE):
        kept = (kept + chunk)[-_STDERR_KEEP:]
    return kept


async def _reap(proc: asyncio.subprocess.Process, stderr_tail: asyncio.Future) -> None:
    """Wait for the (killed or finished) tool, draining its pipes.

    asyncio's `wait()` returns only once every pipe has closed, and a pipe whose reader was
    paused on a full buffer (we stopped reading at the output cap) never sees its end: so
    read what the dead tool left. Bounded, in case a detached grandchild keeps a pipe open.
    """
    assert proc.stdout is not None

    async def drain() -> None:
        while await proc.stdout.read(_READ_SIZE):
            pass
        await stderr_tail
        await proc.wait()

    try:
        await asyncio.wait_for(drain(), _REAP_TIMEOUT_S)
    except (asyncio.TimeoutError, OSError):
        stderr_tail.cancel()


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
