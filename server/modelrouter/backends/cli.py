"""A command-line tool as a backend: argv (no shell), prompt on stdin, answer on stdout.

The child gets only an allow-listed environment (basics like PATH/HOME/LANG, the backend's
own key variable and `env_allow`), so keys meant for other backends never reach it. Output
is capped; cancelling the stream kills the whole process group at once.

The answer ends when the tool exits, not when its stdout closes: a tool that leaves a
(detached) child behind holding stdout would otherwise keep the answer open until the
timeout. After the exit, what is already in the pipe is read, and whatever still holds the
tool's output pipes — its process group, and any process that moved to a session of its
own — is killed.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator

from modelrouter.backends.base import BackendError, StreamDone, StreamEvent, TextDelta
from modelrouter.config import BackendConfig
from modelrouter.redact import scrub
from modelrouter.tokens import estimate_tokens
from modelrouter.transcript import CallOptions, Message, to_prompt, transcript_tokens

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
# After the tool exited: how long to wait for more of what it wrote, per read and in all.
_SETTLE_S = 0.2
_SETTLE_TOTAL_S = 2.0


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

    async def stream(
        self, messages: list[Message], options: CallOptions | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Stream the tool's stdout (text only: `options` do not apply; see `Backend.stream`)."""
        cfg = self.config
        if not cfg.command:
            raise BackendError("unavailable", f"{cfg.name}: no command configured")
        prompt = to_prompt(messages)
        loop = asyncio.get_running_loop()
        # Our own pipes for stdout/stderr (not asyncio's), so that waiting for the tool means
        # waiting for its exit: asyncio's wait() also waits for every pipe to close.
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *cfg.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=out_w,
                stderr=err_w,
                env=child_env(cfg),
                start_new_session=True,  # its own process group, so kill reaches its children
            )
        except OSError as exc:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise BackendError(
                "unavailable", f"{cfg.name}: cannot run {cfg.command[0]!r}: {exc.strerror}"
            ) from None
        os.close(out_w)
        os.close(err_w)
        pipes = [os.fstat(out_r).st_ino, os.fstat(err_r).st_ino]
        stdout, out_transport = await _reader(loop, out_r)
        stderr, err_transport = await _reader(loop, err_r)
        stderr_tail = asyncio.ensure_future(_tail(stderr))
        exited = asyncio.ensure_future(proc.wait())
        # Fed concurrently: a tool that writes before reading all of a large prompt would
        # otherwise block on a full stdout pipe while we block on its full stdin pipe.
        feeder = asyncio.ensure_future(_feed(proc, prompt.encode()))
        try:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            received = 0
            parts: list[str] = []
            async for chunk in _output(stdout, exited):
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
            code = await exited
            if code != 0:
                if not stderr_tail.done():
                    await asyncio.wait({stderr_tail}, timeout=_SETTLE_S)
                err = stderr_tail.result() if stderr_tail.done() else b""
                # Tools echo credentials in their errors; those must not reach the user's log.
                message = scrub(err.decode("utf-8", "replace"), known=[cfg.api_key() or ""])
                detail = f": {' '.join(message.split()[-60:])}" if message.strip() else ""
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
            await _reap(proc, exited, stderr_tail, stdout, pipes)
            out_transport.close()
            err_transport.close()


async def _reader(
    loop: asyncio.AbstractEventLoop, fd: int
) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    reader = asyncio.StreamReader(limit=2**20)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport


async def _output(stdout: asyncio.StreamReader, exited: asyncio.Future) -> AsyncIterator[bytes]:
    """The tool's stdout until it closes, or — once the tool has exited — until nothing
    more arrives for a moment (a child left behind may hold the pipe open for ever)."""
    while not exited.done():
        read = asyncio.ensure_future(stdout.read(_READ_SIZE))
        try:
            await asyncio.wait({read, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not read.done():
                read.cancel()  # a StreamReader keeps unread data: nothing is lost
                with contextlib.suppress(asyncio.CancelledError):
                    await read
        if read.cancelled():
            break
        chunk = read.result()
        if not chunk:
            return
        yield chunk
    settle_until = asyncio.get_running_loop().time() + _SETTLE_TOTAL_S
    while asyncio.get_running_loop().time() < settle_until:
        try:
            chunk = await asyncio.wait_for(stdout.read(_READ_SIZE), _SETTLE_S)
        except asyncio.TimeoutError:
            return
        if not chunk:
            return
        yield chunk


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


async def _reap(
    proc: asyncio.subprocess.Process,
    exited: asyncio.Future,
    stderr_tail: asyncio.Future,
    stdout: asyncio.StreamReader,
    pipes: list[int],
) -> None:
    """Wait for the (killed or finished) tool, then kill whatever it left holding its output
    pipes: its process group and any process that started a session of its own."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(exited), _REAP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the tool's own group outlives it while used
    await asyncio.sleep(0)  # let the pipes report the end the kill caused
    if not (stderr_tail.done() and stdout.at_eof()):
        leftovers = await asyncio.to_thread(_pipe_holders, pipes)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(stderr_tail), _REAP_TIMEOUT_S)
    stderr_tail.cancel()
    if not exited.done():
        exited.cancel()


def _pipe_holders(inodes: list[int]) -> list[int]:
    """Processes (other than this one) holding an end of the pipes with these inodes.

    Only the tool and what it started can hold them: our ends are not inherited. Linux
    `/proc`; elsewhere nothing is found and the process-group kill has to do.
    """
    wanted = {f"pipe:[{inode}]" for inode in inodes}
    me = os.getpid()
    found = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    found.append(pid)
                    break
            except OSError:
                continue
    return found


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
