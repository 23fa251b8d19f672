"""Routing overhead: Engine streaming through a backend versus a bare httpx call.

Both stream the same answer from the same fake provider on loopback; the difference in time
to first token and to last token is what ModelRouter adds (planning, transcript translation,
the adapter's parsing, health bookkeeping, events). Target: under 2 ms per request.

    python bench/overhead.py [--requests N] [--chunks C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from modelrouter.backends.base import Message  # noqa: E402
from modelrouter.engine import Engine, Job, Progress  # noqa: E402
from support.fakes.rules import backend, rules_with  # noqa: E402

MESSAGES = [Message("system", "Be brief."), Message("user", "Rename x to count in this loop.")]


async def bare(client: httpx.AsyncClient, url: str, wire: str) -> tuple[float, float, float]:
    """Time to first text, to the end of the stream, and CPU time, with plain httpx."""
    if wire == "openai":
        body = {
            "model": "m",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": m.role, "content": m.content} for m in MESSAGES],
        }
        path = "/chat/completions"
    else:
        body = {
            "model": "m",
            "stream": True,
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": MESSAGES[1].content}],
        }
        path = "/v1/messages"
    cpu = time.process_time()
    start = time.perf_counter()
    first = None
    async with client.stream("POST", url + path, json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            has_text = (
                any(c["delta"].get("content") for c in data.get("choices") or ())
                if wire == "openai"
                else data.get("type") == "content_block_delta"
            )
            if first is None and has_text:
                first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, time.process_time() - cpu


async def routed(engine: Engine) -> tuple[float, float, float]:
    """Time to first text, to the complete Outcome, and CPU time, through Engine.run."""
    cpu = time.process_time()
    start = time.perf_counter()
    first = None

    def on_event(event) -> None:
        nonlocal first
        if first is None and isinstance(event, Progress):
            first = time.perf_counter() - start

    await engine.run(Job(messages=list(MESSAGES), tier="feature"), on_event)
    return first or 0.0, time.perf_counter() - start, time.process_time() - cpu


# The fake provider runs in its own process so it does not compete with the client for the GIL.
SERVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from support.fakes.provider import FakeProvider, Reply
fake = FakeProvider().start()
for wire in ("openai", "anthropic"):
    fake.default(wire, Reply(text="token " * int(sys.argv[2]), chunk_size=6))
print(fake.url, flush=True)
sys.stdin.read()
"""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=60, help="streamed chunks per answer")
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(TESTS), str(args.chunks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    print(f"{args.requests} requests per wire, {args.chunks} chunks per answer, loopback\n")
    print(
        f"{'wire':10} {'':6} {'bare med':>9} {'routed med':>11} {'added med':>10} "
        f"{'bare p95':>9} {'routed p95':>11} {'added p95':>10}"
    )
    try:
        for wire in ("openai", "anthropic"):
            base = f"{url}/{wire}" + ("/v1" if wire == "openai" else "")
            async with httpx.AsyncClient() as client:
                engine = Engine(rules_with(backend(wire, wire, base)), client=client)
                results = {"bare": [], "routed": []}
                for _ in range(20):  # warm up connections, imports, caches
                    await bare(client, base, wire)
                    await routed(engine)
                for i in range(args.requests):
                    # alternate the order so drift in the machine hits both alike
                    if i % 2:
                        results["bare"].append(await bare(client, base, wire))
                        results["routed"].append(await routed(engine))
                    else:
                        results["routed"].append(await routed(engine))
                        results["bare"].append(await bare(client, base, wire))
            for index, label in ((0, "first"), (1, "last"), (2, "cpu")):
                b = [r[index] * 1000 for r in results["bare"]]
                r = [x[index] * 1000 for x in results["routed"]]
                print(
                    f"{wire:10} {label:6} {statistics.median(b):8.2f}ms "
                    f"{statistics.median(r):10.2f}ms "
                    f"{statistics.median(r) - statistics.median(b):9.2f}ms "
                    f"{_p95(b):8.2f}ms {_p95(r):10.2f}ms {_p95(r) - _p95(b):9.2f}ms"
                )
    finally:
        server.stdin.close()
        server.wait()
    print(
        "\nfirst/last: wall time to the first and last token; cpu: this process's CPU time per"
        "\nrequest (the server runs in another process), which machine load does not inflate."
        "\ntarget: added latency under 2 ms (median and p95) to first and last token"
    )


if __name__ == "__main__":
    asyncio.run(main())
