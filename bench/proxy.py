"""Proxy overhead: `modelrouter serve` in front of a loopback provider versus calling it directly.

The fake provider and the proxy each run in their own process; the client streams OpenAI
chat completions either straight from the provider or through the proxy (with `--api
responses`, through the proxy's Responses endpoint, as Codex calls it; model
`modelrouter/auto`, so classification, routing, the engine, the ledger and both wire
translations are all in the path). Printed: time to first token and to last, p50 and p99,
at 1 and at 64 concurrent streams, the added latency, requests per second, and the proxy's
memory. Targets on a 2-core machine: <= 1 ms added p50 to first token at 1 stream, <= 5 ms
added p99 at 64 streams.

    python bench/proxy.py [--requests N] [--chunks C] [--api chat|responses]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = """
import sys, time
sys.path.insert(0, {tests!r})
from support.fakes.provider import FakeProvider, Reply
fake = FakeProvider().start()
fake.default("r", Reply(text="x" * {chars}, chunk_size=4))
print(fake.port, flush=True)
while True:
    time.sleep(3600)
"""
RULES = """
version: 1
backends:
  fake: {{type: openai, base_url: "{url}", model: fake-model, context_window: 32000}}
tiers:
  trivial: [fake]
default_tier: trivial
classifier: {{mode: rules}}
routes:
  - {{name: t, tier: trivial, patterns: [rename*]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * q / 100))]


PROMPT = "Rename x to count in this loop."


async def one(client: httpx.AsyncClient, url: str) -> tuple[float, float]:
    responses = url.endswith("/responses")
    body: dict = {"model": "modelrouter/auto", "stream": True}
    if responses:
        body["input"] = PROMPT
    else:
        body["messages"] = [{"role": "user", "content": PROMPT}]
    # The first answer text: a chat chunk's content, or a Responses text delta.
    marker = '"delta":"x' if responses else '"content":"x'
    start = time.perf_counter()
    first = None
    async with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: ") and marker in line.replace(" ", ""):
                first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


async def run(url: str, requests: int, streams: int) -> tuple[list[float], list[float], float]:
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    # TCP_NODELAY, as in the engine: otherwise every request body waits for a delayed ACK
    # and both paths measure the client's Nagle stall instead of the server.
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    transport = httpx.AsyncHTTPTransport(limits=limits, socket_options=nodelay)
    async with httpx.AsyncClient(transport=transport, timeout=60) as client:
        for _ in range(min(20, requests)):
            await one(client, url)  # warm up connections and code paths
        results: list[tuple[float, float]] = []
        queue = list(range(requests))

        async def worker() -> None:
            while queue:
                queue.pop()
                results.append(await one(client, url))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(streams)))
        elapsed = time.perf_counter() - start
    return [r[0] for r in results], [r[1] for r in results], requests / elapsed


def memory_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"not ready: {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--chunks", type=int, default=50, help="streamed chunks per answer")
    parser.add_argument(
        "--api", choices=("chat", "responses"), default="chat", help="the proxy endpoint"
    )
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="mr-bench-")
    env = {**os.environ, "MODELROUTER_DATA_DIR": data}
    provider = subprocess.Popen(
        [sys.executable, "-c", PROVIDER.format(tests=str(ROOT / "tests"), chars=4 * args.chunks)],
        stdout=subprocess.PIPE,
        text=True,
    )
    proxy = None
    try:
        assert provider.stdout is not None
        fake_port = int(provider.stdout.readline())
        direct = f"http://127.0.0.1:{fake_port}/r/v1/chat/completions"
        rules = Path(data) / "rules.yaml"
        rules.write_text(RULES.format(url=f"http://127.0.0.1:{fake_port}/r/v1"))
        port = free_port()
        proxy = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelrouter",
                "serve",
                "--port",
                str(port),
                "--rules",
                str(rules),
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        endpoint = "responses" if args.api == "responses" else "chat/completions"
        proxied = f"http://127.0.0.1:{port}/v1/{endpoint}"
        idle = memory_kib(proxy.pid)[0]
        print(
            f"proxy bench: {args.requests} streamed requests of {args.chunks} chunks each, "
            f"proxy endpoint /v1/{endpoint}"
        )
        print(f"{'streams':>7} {'path':>8} {'ttft p50':>9} {'ttft p99':>9} {'last p50':>9} "
              f"{'last p99':>9} {'req/s':>7}")  # fmt: skip
        summary = {}
        for streams in (1, 64):
            figures = {}
            for name, url in (("direct", direct), ("proxy", proxied)):
                firsts, lasts, rate = asyncio.run(run(url, args.requests, streams))
                figures[name] = (firsts, lasts)
                cells = [
                    statistics.median(firsts),
                    percentile(firsts, 99),
                    statistics.median(lasts),
                    percentile(lasts, 99),
                ]
                shown = " ".join(f"{c * 1e3:>8.2f}m" for c in cells)
                print(f"{streams:>7} {name:>8} {shown} {rate:>7.0f}")
            (df, dl), (pf, pl) = figures["direct"], figures["proxy"]
            added = {
                "ttft_p50_ms": (statistics.median(pf) - statistics.median(df)) * 1e3,
                "ttft_p99_ms": (percentile(pf, 99) - percentile(df, 99)) * 1e3,
                "last_p50_ms": (statistics.median(pl) - statistics.median(dl)) * 1e3,
                "last_p99_ms": (percentile(pl, 99) - percentile(dl, 99)) * 1e3,
            }
            summary[streams] = added
            print(
                f"{streams:>7}    added  ttft p50 {added['ttft_p50_ms']:+.2f} ms, "
                f"p99 {added['ttft_p99_ms']:+.2f} ms; last p50 {added['last_p50_ms']:+.2f} ms, "
                f"p99 {added['last_p99_ms']:+.2f} ms"
            )
        rss, peak = memory_kib(proxy.pid)
        print(f"proxy memory: {idle / 1024:.1f} MiB idle, {rss / 1024:.1f} MiB after, "
              f"{peak / 1024:.1f} MiB peak")  # fmt: skip
        ok1 = summary[1]["ttft_p50_ms"] <= 1.0
        ok64 = summary[64]["ttft_p99_ms"] <= 5.0
        print(f"targets: added ttft p50 at 1 stream <= 1 ms: {'met' if ok1 else 'MISSED'}; "
              f"added ttft p99 at 64 streams <= 5 ms: {'met' if ok64 else 'MISSED'}")  # fmt: skip
        print(json.dumps({"added": summary, "rss_mib": rss / 1024, "peak_mib": peak / 1024}))
    finally:
        for process in (proxy, provider):
            if process is not None:
                process.terminate()
                process.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
