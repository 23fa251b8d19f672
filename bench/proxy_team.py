"""A team's load on one router: several `modelrouter serve` processes, one budget, one ledger.

Run: python bench/proxy_team.py [--processes 4] [--streams 50] [--ledger postgresql|sqlite|both]
Loopback only and bounded: a fake provider on 127.0.0.1, P proxy processes on free ports,
each sent S concurrent streamed requests under one proxy key whose daily budget fits about
half of them. Needs PostgreSQL's initdb/pg_ctl and psycopg (the `team` extra) for the
PostgreSQL run.

Prints, per ledger: requests/s through the proxies, p50/p99 added latency (time to the last
byte through a proxy minus the median of the same request straight to the fake provider, as
many at once as the proxies answered), answered and refused counts, ledger rows written per
second, and checks that hold: no ledger row lost or duplicated, spend within one request's
cost of the budget, every refused request told why (HTTP 429 naming the budget). Each proxy
first answers two requests under a separate key, so one-off start-up costs stay out of the
figures. Every process shares the machine's cores: on a small machine the added latency
is mostly queueing for CPU, not work the proxy does per request.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

ANSWER = "a fairly short answer, streamed in small pieces " * 4
OUTPUT_TOKENS = 400
PRICE_OUT = 10.0  # $ per million output tokens: one request costs $0.004
RULES = """
version: 1
backends:
  cheap:
    type: openai
    base_url: "{url}"
    model: cheap-model
    max_output_tokens: {max_out}
    price: {{input: 0, output: {price}}}
tiers:
  trivial: [cheap]
default_tier: trivial
classifier: {{mode: rules}}
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _one(client: httpx.AsyncClient, url: str, key: str | None, i: int) -> tuple:
    body = {
        "model": "modelrouter/trivial",
        "stream": True,
        "max_tokens": OUTPUT_TOKENS,
        "messages": [{"role": "user", "content": f"rename variable {i}"}],
    }
    headers = {"authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()
    async with client.stream("POST", url, json=body, headers=headers) as response:
        data = await response.aread()
    return response.status_code, time.perf_counter() - started, data.decode(errors="replace")


async def _burst(urls: list[str], streams: int, key: str | None) -> tuple[float, list]:
    limits = httpx.Limits(max_connections=len(urls) * streams + 10)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                _one(client, u, key, k * streams + i)
                for k, u in enumerate(urls)
                for i in range(streams)
            )
        )
        return time.perf_counter() - started, results


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"a proxy exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


def run_one(kind: str, target: str, args: argparse.Namespace, fake, tmp: Path) -> dict:
    from modelrouter.keys import create_key
    from modelrouter.ledger import Ledger

    total = args.processes * args.streams
    per_request = OUTPUT_TOKENS * PRICE_OUT / 1e6
    budget = per_request * total / 2
    ledger = Ledger(target)
    _, key = create_key(ledger, f"load-{kind}", daily_usd=budget)
    _, warm_key = create_key(ledger, f"warm-{kind}")
    ledger.close()
    rules = tmp / f"rules-{kind}.yaml"
    rules.write_text(
        RULES.format(url=fake.base_url("openai", "cheap"), max_out=OUTPUT_TOKENS, price=PRICE_OUT)
    )
    env = {
        **os.environ,
        "MODELROUTER_LEDGER_URL": target,
        "MODELROUTER_DATA_DIR": str(tmp / f"data-{kind}"),
    }
    ports = [_free_port() for _ in range(args.processes)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "modelrouter", "serve", "--port", str(p), "--rules", str(rules)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in ports
    ]
    try:
        for p, proc in zip(ports, procs, strict=True):
            _wait_healthy(f"http://127.0.0.1:{p}/healthz", proc)
        urls = [f"http://127.0.0.1:{p}/v1/chat/completions" for p in ports]
        # Each process's first requests pay one-off costs (imports, connection pools); a
        # separate key without a budget takes them, and its rows are left out below.
        asyncio.run(_burst(urls, 2, warm_key))
        took, results = asyncio.run(_burst(urls, args.streams, key))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    others = [r for r in results if r[0] not in (200, 429)]
    ledger = Ledger(target)
    rows = [r for r in ledger.entries() if r.key == f"load-{kind}"]
    first, last = min(r.ts for r in rows), max(r.ts for r in rows)
    spend = sum(r.cost_usd for r in rows)
    ledger.close()
    return {
        "took": took,
        "ok": ok,
        "refused": refused,
        "others": others,
        "rows": rows,
        "spend": spend,
        "budget": budget,
        "per_request": per_request,
        "rows_s": len(rows) / max(last - first, 1e-3),
        "total": total,
        "key": f"load-{kind}",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--ledger", choices=("postgresql", "sqlite", "both"), default="both")
    args = parser.parse_args()
    from support.fakes.provider import FakeProvider, Reply

    fake = FakeProvider().start()
    fake.default(
        "cheap",
        Reply(text=ANSWER, chunk_size=16, input_tokens=20, output_tokens=OUTPUT_TOKENS),
    )
    tmp = Path(tempfile.mkdtemp(prefix="modelrouter-load-"))
    server = None
    try:
        direct = fake.base_url("openai", "cheap") + "/chat/completions"
        asyncio.run(_burst([direct], 2, None))
        kinds = ["postgresql", "sqlite"] if args.ledger == "both" else [args.ledger]
        figures = {}
        for kind in kinds:
            if kind == "postgresql":
                from support.postgres import PostgresServer, unavailable

                why = unavailable()
                if why:
                    print(f"postgresql: skipped ({why})")
                    continue
                server = PostgresServer().start()
                target = server.new_database()
            else:
                target = str(tmp / "ledger.sqlite3")
            r = run_one(kind, target, args, fake, tmp)
            # The baseline: as many streams at once as the proxies answered (the refused ones
            # never reach the provider), straight to the fake provider.
            _, base = asyncio.run(_burst([direct], max(len(r["ok"]), 1), None))
            baseline = statistics.median(x[1] for x in base)
            lat = sorted(x[1] - baseline for x in r["ok"])
            p50 = statistics.median(lat) if lat else float("nan")
            p99 = lat[math.ceil(0.99 * len(lat)) - 1] if lat else float("nan")  # nearest rank
            named = all(r["key"] in x[2] and "budget" in x[2] for x in r["refused"])
            uids = {e.uid for e in r["rows"]}
            within = r["spend"] <= r["budget"] + r["per_request"] + 1e-9
            print(
                f"{kind:<10} {args.processes} proxies x {args.streams} streams: "
                f"{r['total'] / r['took']:.0f} requests/s, added latency p50 "
                f"{p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms; answered {len(r['ok'])}, "
                f"refused 429 {len(r['refused'])}, other {len(r['others'])}; ledger rows "
                f"{len(r['rows'])} ({len(uids)} distinct), {r['rows_s']:.0f} rows/s"
            )
            print(
                f"{'':<10} spend ${r['spend']:.4f} of budget ${r['budget']:.4f} "
                f"(one request ${r['per_request']:.4f}): "
                f"{'within one request' if within else 'OVER'}"
                f"; rows {'all there' if len(r['rows']) == r['total'] == len(uids) else 'MISMATCH'}"
                f"; refusals {'name the budget' if named else 'DO NOT name the budget'}"
            )
            figures[kind] = r
            if server is not None:
                server.remove()
                server = None
        if len(figures) == 2:
            pg, lite = figures["postgresql"], figures["sqlite"]
            print(f"rows/s PostgreSQL / SQLite: x{pg['rows_s'] / lite['rows_s']:.2f}")
    finally:
        fake.stop()
        if server is not None:
            server.remove()


if __name__ == "__main__":
    main()
