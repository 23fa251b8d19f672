"""JSON-RPC edges over raw stdio: every request is answered, no input leaves the server deaf.

The server is driven byte by byte, the way a broken or hostile client would: params that do
not parse, bad or missing `Content-Length`, an absurd `Content-Length`, requests before
`initialize` or after `shutdown`, and `exit` with or without `shutdown` while a model reply
is still streaming.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.fakes.provider import Reply
from support.lsp import fenced, write_rules


class RawClient:
    """A client that writes exactly the bytes it is given and reads framed replies."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pending: list[dict[str, Any]] = []

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def read(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise EOFError("server closed its output")
                if line == b"\r\n":
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            return json.loads(await self.proc.stdout.readexactly(length))

    async def response(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The response to request `msg_id` (answering the server's own requests on the way)."""
        for i, seen in enumerate(self.pending):
            if seen.get("id") == msg_id and "method" not in seen:
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = await self.read(max(0.1, deadline - time.monotonic()))
            if "method" in message and "id" in message:
                # A request from the server (progress, configuration): answer it plainly.
                self.send({"id": message["id"], "result": None})
                continue
            if message.get("id") == msg_id and "method" not in message:
                return message
            if "method" not in message:
                self.pending.append(message)

    async def initialize(self, root: Path) -> None:
        self.send(
            {
                "id": "init",
                "method": "initialize",
                "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}},
            }
        )
        reply = await self.response("init", timeout=30)
        assert "result" in reply, reply
        self.send({"method": "initialized", "params": {}})

    async def wait(self, timeout: float = 10.0) -> int:
        async with asyncio.timeout(timeout):
            return await self.proc.wait()


@pytest.fixture
async def raw(tmp_path, fake_provider):
    rules = write_rules(tmp_path / "rules.yaml", fake_provider)
    root = tmp_path / "ws"
    root.mkdir()
    env = dict(os.environ, MODELROUTER_DATA_DIR=str(tmp_path / "data"))
    env.update(MODELROUTER_RULES=str(rules), FAKE_CLOUD_KEY="test-key-not-secret")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "modelrouter",
        "lsp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        limit=2**24,
    )
    client = RawClient(proc)
    client.root = root  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _hover(msg_id: Any, uri: str, line: Any, character: Any) -> dict[str, Any]:
    return {
        "id": msg_id,
        "method": "textDocument/hover",
        "params": {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
        },
    }


async def _alive(raw: RawClient, msg_id: Any = "alive") -> None:
    """The server still answers a well-formed request."""
    raw.send(_hover(msg_id, raw.root.joinpath("a.py").as_uri(), 0, 0))  # type: ignore[attr-defined]
    reply = await raw.response(msg_id)
    assert "result" in reply and reply["result"] is None, reply


@pytest.mark.parametrize(
    ("method", "params"),
    [
        (
            "textDocument/hover",
            {"textDocument": {"uri": "file:///a.py"}, "position": {"line": -1, "character": 0}},
        ),
        (
            "textDocument/codeAction",
            {
                "textDocument": {"uri": "file:///a.py"},
                "range": {
                    "start": {"line": 0, "character": -5},
                    "end": {"line": 0, "character": 0},
                },
                "context": {"diagnostics": []},
            },
        ),
        ("workspace/executeCommand", "modelrouter.run"),
        ("textDocument/hover", {"position": {"line": 0, "character": 0}}),
        ("textDocument/hover", [1, 2, 3]),
    ],
    ids=["negative-line", "negative-character", "string-params", "missing-field", "list-params"],
)
async def test_params_that_do_not_parse_get_invalid_params(raw, method, params):
    await raw.initialize(raw.root)
    raw.send({"id": 7, "method": method, "params": params})
    reply = await raw.response(7)
    assert reply["error"]["code"] == -32602, reply
    await _alive(raw)


@pytest.mark.parametrize(
    "garbage",
    [
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Length: -5\r\n\r\n",
        b'Content-Type: application/json\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
        b"hello there\r\n\r\n",
        b"X" * 20000 + b"\r\n\r\n",
        b"Content-Length: 99999999999\r\n\r\n",
        b'Content-Length: 5\r\n\r\n{"jsonrpc": "2.0", "id": 3}',
    ],
    ids=[
        "not-a-number",
        "negative",
        "missing",
        "no-colon",
        "endless-line",
        "oversize",
        "too-short",
    ],
)
async def test_framing_errors_are_skipped_and_the_server_keeps_answering(raw, garbage):
    await raw.initialize(raw.root)
    raw.send_raw(garbage)
    await _alive(raw, "after-garbage")
    if b"99999999999" in garbage:
        status = Path(f"/proc/{raw.proc.pid}/status").read_text()
        rss_kb = int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1])
        assert rss_kb < 1_000_000, f"{rss_kb} kB resident after an oversize header"


async def test_a_content_length_longer_than_its_message_resynchronises(raw):
    await raw.initialize(raw.root)
    body = json.dumps(_hover("lost", "file:///a.py", 0, 0) | {"jsonrpc": "2.0"}).encode()
    raw.send_raw(b"Content-Length: %d\r\n\r\n" % (len(body) + 40) + body)
    await _alive(raw, "found")


async def test_bad_json_gets_a_parse_error(raw):
    await raw.initialize(raw.root)
    raw.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    reply = await raw.read()
    while reply.get("method"):
        reply = await raw.read()
    assert reply["error"]["code"] == -32700 and reply["id"] is None, reply
    await _alive(raw)


async def test_requests_before_initialize_get_server_not_initialized(raw):
    raw.send(_hover(1, "file:///a.py", 0, 0))
    reply = await raw.response(1)
    assert reply["error"]["code"] == -32002, reply
    await raw.initialize(raw.root)
    await _alive(raw)


async def _streaming_job(raw: RawClient, fake_provider) -> None:
    fake_provider.default("local", Reply(text=fenced("x = 1\n") * 50, chunk_size=2, delay=0.1))
    await raw.initialize(raw.root)
    path = raw.root / "a.py"  # type: ignore[attr-defined]
    path.write_text("x = 0\n")
    uri = path.as_uri()
    raw.send(
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": "x = 0\n",
                }
            },
        }
    )
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
    raw.send(
        {
            "id": "job",
            "method": "workspace/executeCommand",
            "params": {
                "command": "modelrouter.run",
                "arguments": [{"action": "fix-typo", "uri": uri, "range": rng}],
            },
        }
    )
    deadline = time.monotonic() + 10
    while not fake_provider.requests_to("local"):
        assert time.monotonic() < deadline, "the model was never asked"
        await asyncio.sleep(0.02)


async def test_exit_without_shutdown_during_a_job_exits_1_at_once(raw, fake_provider):
    await _streaming_job(raw, fake_provider)
    started = time.monotonic()
    raw.send({"method": "exit"})
    assert await raw.wait(timeout=5) == 1
    assert time.monotonic() - started < 5


async def test_shutdown_during_a_job_cancels_it_then_exit_is_0(raw, fake_provider):
    await _streaming_job(raw, fake_provider)
    raw.send({"id": "bye", "method": "shutdown"})
    reply = await raw.response("bye")
    assert "error" not in reply and reply["result"] is None, reply
    job = await raw.response("job")
    assert "error" in job or job["result"]["applied"] is False, job
    raw.send(_hover("late", "file:///a.py", 0, 0))
    late = await raw.response("late")
    assert late["error"]["code"] == -32600, late
    raw.send({"method": "exit"})
    assert await raw.wait(timeout=5) == 0
