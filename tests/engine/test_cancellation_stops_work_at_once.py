"""Cancelling a request closes its HTTP stream or kills its process; nothing keeps running."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from modelrouter.backends.base import Message
from modelrouter.engine import Engine, Job, Progress
from support.fakes.provider import Reply
from support.fakes.rules import backend, rules_with


async def _cancel_after_first_text(engine: Engine, job: Job) -> None:
    first = asyncio.Event()

    def on_event(event):
        if isinstance(event, Progress):
            first.set()

    task = asyncio.create_task(engine.run(job, on_event))
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini", "ollama"])
async def test_cancel_closes_the_http_stream(fake_provider, wire):
    fake_provider.default("slow", Reply(text="word " * 200, chunk_size=5, delay=0.05))
    async with Engine(
        rules_with(backend("slow", wire, fake_provider.base_url(wire, "slow")))
    ) as engine:
        await _cancel_after_first_text(engine, Job([Message("user", "go")], tier="feature"))
    request = fake_provider.requests_to("slow")[0]
    # the server notices the hang-up on its next write instead of streaming 200 chunks
    assert await asyncio.to_thread(request.disconnected.wait, 5)
    assert engine.health.blocked_reason("slow") is None  # a cancel is not a failure


async def test_cancel_kills_the_cli_process(tmp_path):
    pid_file = tmp_path / "pid"
    script = (
        "import os, sys, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "print('working', flush=True)\n"
        "time.sleep(60)\n"
    )
    cfg = backend("tool", "cli", command=(sys.executable, "-c", script))
    async with Engine(rules_with(cfg)) as engine:
        await _cancel_after_first_text(engine, Job([Message("user", "go")], tier="feature"))
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # already gone and reaped
