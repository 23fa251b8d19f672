"""Proxy overhead: `modelrouter serve` in front of a loopback provider versus calling it directly.

The provider (a small asyncio server that streams OpenAI chat completions) and the proxy
each run in their own process; the client (aiohttp, every connection opened before the
clock starts) streams either straight from the provider or through the proxy (with `--api
responses`, through the proxy's Responses endpoint, as Codex calls it; model
`modelrouter/auto`, so classification, routing, the engine, redaction, the ledger and both
wire translations are all in the path). Printed: time to first token and to last, p50 and
p99, at 1 and at 64 concurrent streams, the added latency, requests per second, the proxy's
CPU time per request (the figure least moved by other load on a shared machine) and its
memory. With `--repeat N` every run is repeated N times, interleaved, and the medians are
printed. Targets on a 2-core machine: <= 1 ms added p50 to first token at 1 stream, <= 5 ms
added p99 at 64 streams.

`--litellm` also measures LiteLLM's proxy (`litellm --config`, one worker, in front of the
same provider, chat completions) side by side. LiteLLM is not a dependency: install it
apart, e.g. `python -m venv /tmp/lt && /tmp/lt/bin/pip install 'litellm[proxy]'`, and pass
`--litellm /tmp/lt/bin/litellm` (default: `litellm` on PATH). It runs offline with
`LITELLM_LOCAL_MODEL_COST_MAP=True` and a master key, both set here.

    python bench/proxy.py [--requests N] [--chunks C] [--chunk-ms MS] [--api chat|responses]
                          [--repeat N] [--litellm [PATH]]

By default the provider streams as fast as it can, so at 64 streams the figures measure
how the machine's cores are shared between the client, the provider and the proxy.
`--chunk-ms` paces the provider's chunks as a real model's tokens are paced (20 ms is 50
tokens a second), so the 64 streams leave cores idle and the figures measure the proxy.
The client is not httpx: its connection pool alone held requests ~1 s at 64 concurrent
streams on this machine, on both paths.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = """
import asyncio, json, socket, sys, time
import uvicorn
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

CHARS, DELAY = {chars}, {delay}


def frame(choices, usage=None):
    chunk = {{"id": "chatcmpl-bench", "object": "chat.completion.chunk",
              "created": int(time.time()), "model": "fake-model", "choices": choices}}
    if usage:
        chunk["usage"] = usage
    return b"data: " + json.dumps(chunk).encode() + b"\\n\\n"


async def chat(request):
    await request.body()

    async def frames():
        yield frame([{{"index": 0, "delta": {{"role": "assistant", "content": ""}}}}])
        for _ in range(CHARS // 4):
            if DELAY:
                await asyncio.sleep(DELAY)
            yield frame([{{"index": 0, "delta": {{"content": "xxxx"}}, "finish_reason": None}}])
        yield frame([{{"index": 0, "delta": {{}}, "finish_reason": "stop"}}])
        yield frame([], {{"prompt_tokens": 11, "completion_tokens": CHARS // 4}})
        yield b"data: [DONE]\\n\\n"

    return StreamingResponse(frames(), media_type="text/event-stream")


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
sock.listen(1024)
print(sock.getsockname()[1], flush=True)
app = Starlette(routes=[Route("/r/v1/chat/completions", chat, methods=["POST"])])
uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
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
LITELLM_CONFIG = """
model_list:
  - model_name: fake
    litellm_params: {{model: openai/fake-model, api_base: "{url}", api_key: x}}
"""
LITELLM_KEY = "sk-bench-0123456789abcdef"
PROMPT = "Rename x to count in this loop."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * q / 100))]


async def one(session: aiohttp.ClientSession, url: str, model: str) -> tuple[float, float]:
    responses = url.endswith("/responses")
    body: dict = {"model": model, "stream": True}
    if responses:
        body["input"] = PROMPT
    else:
        body["messages"] = [{"role": "user", "content": PROMPT}]
    # The first answer text: a chat chunk's content, or a Responses text delta.
    marker = b'"delta":"x' if responses else b'"content":"x'
    start = time.perf_counter()
    first = None
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            if first is None and line.startswith(b"data: ") and marker in line.replace(b" ", b""):
                first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


async def run(
    url: str, requests: int, streams: int, model: str = "modelrouter/auto", key: str = ""
) -> tuple[list[float], list[float], float]:
    # The client is aiohttp: httpx's connection pool itself takes ~1 s to hand out
    # connections at 64 concurrent streams here, which would be measured on both paths.
    headers = {"authorization": f"Bearer {key}"} if key else {}
    connector = aiohttp.TCPConnector(limit=streams)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as s:
        # Warm up code paths and open every connection first, as a client that has been
        # running a while has them: connection set-up is not what is measured.
        for _ in range(min(20, requests)):
            await one(s, url, model)
        if streams > 1:
            await asyncio.gather(*(one(s, url, model) for _ in range(streams)))
        results: list[tuple[float, float]] = []
        queue = list(range(requests))

        async def worker() -> None:
            while queue:
                queue.pop()
                results.append(await one(s, url, model))

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


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` and their children so far (Linux)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_ready(url: str, tries: int = 300, headers: dict | None = None) -> None:
    for _ in range(tries):
        try:
            if httpx.get(url, timeout=1, headers=headers).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not ready: {url}")


def start_litellm(command: str, provider_url: str, data: str) -> tuple[subprocess.Popen, str]:
    executable = shutil.which(command) or command
    if not Path(executable).exists():
        raise SystemExit(f"--litellm: {command} not found (pip install 'litellm[proxy]' apart)")
    config = Path(data) / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(url=provider_url))
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": LITELLM_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of the price list
    }
    process = subprocess.Popen(
        [executable, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}/health/liveliness", tries=1200)
    return process, f"http://127.0.0.1:{port}/v1/chat/completions"


def warm_ups(requests: int, streams: int) -> int:
    return min(20, requests) + (streams if streams > 1 else 0)


FIGURES = ("ttft_p50", "ttft_p99", "last_p50", "last_p99", "rate", "cpu_ms")


def measure(url: str, requests: int, streams: int, pids: list[int], **kw) -> dict[str, float]:
    before = cpu_s(pids) if pids else 0.0
    firsts, lasts, rate = asyncio.run(run(url, requests, streams, **kw))
    used = cpu_s(pids) - before if pids else 0.0
    return {
        "ttft_p50": statistics.median(firsts) * 1e3,
        "ttft_p99": percentile(firsts, 99) * 1e3,
        "last_p50": statistics.median(lasts) * 1e3,
        "last_p99": percentile(lasts, 99) * 1e3,
        "rate": rate,
        # warm-up requests included: they were served in the interval
        "cpu_ms": used * 1e3 / (requests + warm_ups(requests, streams)) if pids else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--chunks", type=int, default=50, help="streamed chunks per answer")
    parser.add_argument(
        "--chunk-ms", type=float, default=0.0, help="the provider's pause before each chunk"
    )
    parser.add_argument(
        "--api", choices=("chat", "responses"), default="chat", help="the proxy endpoint"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (medians)")
    parser.add_argument(
        "--litellm",
        nargs="?",
        const="litellm",
        metavar="PATH",
        help="also measure LiteLLM's proxy (its `litellm` command)",
    )
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="mr-bench-")
    env = {**os.environ, "MODELROUTER_DATA_DIR": data}
    provider = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PROVIDER.format(chars=4 * args.chunks, delay=args.chunk_ms / 1000),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    proxy = litellm = None
    try:
        assert provider.stdout is not None
        fake_port = int(provider.stdout.readline())
        provider_url = f"http://127.0.0.1:{fake_port}/r/v1"
        direct = f"{provider_url}/chat/completions"
        rules = Path(data) / "rules.yaml"
        rules.write_text(RULES.format(url=provider_url))
        port = free_port()
        command = [sys.executable, "-m", "modelrouter", "serve", "--port", str(port)]
        proxy = subprocess.Popen(
            [*command, "--rules", str(rules)], env=env, stderr=subprocess.DEVNULL
        )
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        endpoint = "responses" if args.api == "responses" else "chat/completions"
        paths: dict[str, tuple[str, list[int], dict]] = {
            "direct": (direct, [], {}),
            "proxy": (f"http://127.0.0.1:{port}/v1/{endpoint}", [proxy.pid], {}),
        }
        if args.litellm:
            litellm, url = start_litellm(args.litellm, provider_url, data)
            pids = [litellm.pid, *children(litellm.pid)]
            paths["litellm"] = (url, pids, {"model": "fake", "key": LITELLM_KEY})
        idle = memory_kib(proxy.pid)[0]
        print(
            f"proxy bench: {args.requests} streamed requests of {args.chunks} chunks each"
            f"{f' {args.chunk_ms:g} ms apart' if args.chunk_ms else ''}, "
            f"proxy endpoint /v1/{endpoint}, medians of {args.repeat} run(s); "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print(f"{'streams':>7} {'path':>8} {'ttft p50':>9} {'ttft p99':>9} {'last p50':>9} "
              f"{'last p99':>9} {'req/s':>7} {'cpu/req':>8}")  # fmt: skip
        summary: dict = {}
        for streams in (1, 64):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
            for _ in range(args.repeat):
                for name, (url, pids, kw) in paths.items():
                    runs[name].append(measure(url, args.requests, streams, pids, **kw))
            figures = {
                name: {f: statistics.median(r[f] for r in rs) for f in FIGURES}
                for name, rs in runs.items()
            }
            for name, fig in figures.items():
                cells = " ".join(f"{fig[f]:>8.2f}m" for f in FIGURES[:4])
                cpu = f"{fig['cpu_ms']:>6.2f}ms" if name != "direct" else f"{'':>8}"
                print(f"{streams:>7} {name:>8} {cells} {fig['rate']:>7.0f} {cpu}")
            for name in paths:
                if name == "direct":
                    continue
                added = {f"{f}_ms": figures[name][f] - figures["direct"][f] for f in FIGURES[:4]}
                summary.setdefault(name, {})[streams] = added
                print(
                    f"{streams:>7} {name:>8} added ttft p50 {added['ttft_p50_ms']:+.2f} ms, "
                    f"p99 {added['ttft_p99_ms']:+.2f} ms; last p50 {added['last_p50_ms']:+.2f} "
                    f"ms, p99 {added['last_p99_ms']:+.2f} ms"
                )
        rss, peak = memory_kib(proxy.pid)
        print(f"proxy memory: {idle / 1024:.1f} MiB idle, {rss / 1024:.1f} MiB after, "
              f"{peak / 1024:.1f} MiB peak")  # fmt: skip
        ours = summary["proxy"]
        ok1 = ours[1]["ttft_p50_ms"] <= 1.0
        ok64 = ours[64]["ttft_p99_ms"] <= 5.0
        print(f"targets: added ttft p50 at 1 stream <= 1 ms: {'met' if ok1 else 'MISSED'}; "
              f"added ttft p99 at 64 streams <= 5 ms: {'met' if ok64 else 'MISSED'}")  # fmt: skip
        print(json.dumps({"added": summary, "rss_mib": rss / 1024, "peak_mib": peak / 1024}))
    finally:
        for process in (litellm, proxy, provider):
            if process is not None:
                process.terminate()
                process.wait(20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
