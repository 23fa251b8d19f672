"""Ledger costs: what recording, budget checks, stats and the report add to a request.

Run: python bench/ledger.py [N]
Figures (median and p95 where it is a per-request cost):
- record(): one request with two attempts, committed (WAL, synchronous=NORMAL). Target:
  well under 1 ms, so even the synchronous path could not stall an editor.
- arecord(): the same from asyncio, through the ledger's writer thread (what the engine does).
- blocked_reason(): the budget check routing makes for every backend. Target: microseconds.
- summarize() and render() over a ledger of N requests (default 20,000).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from modelrouter.budget import BudgetGuard
from modelrouter.config import BackendConfig, Budget, Price, Rules
from modelrouter.ledger import AttemptRecord, Ledger, RequestRecord
from modelrouter.report import render
from modelrouter.stats import summarize


def rules() -> Rules:
    backends = {
        "local": BackendConfig("local", "ollama"),
        "mini": BackendConfig("mini", "openai", price=Price(0.4, 1.6), budget=Budget(5, 50, 600)),
        "opus": BackendConfig("opus", "anthropic", price=Price(15, 75), budget=Budget(20)),
    }
    tiers = {"trivial": ("local", "mini"), "standard": ("mini", "opus"), "frontier": ("opus",)}
    return Rules(backends, tiers, (), "standard", {})


def entry(rng: random.Random, ts: float) -> RequestRecord:
    backend = rng.choice(["local", "mini", "opus"])
    return RequestRecord(
        ts=ts,
        tier="standard",
        backend=backend,
        model=backend + "-model",
        action="implement",
        reason="action implement",
        attempts=[
            AttemptRecord("mini", "mini-model", "rate_limit", "429", 0.05),
            AttemptRecord(backend, backend + "-model", "ok", None, rng.uniform(0.2, 4)),
        ],
        input_tokens=rng.randint(200, 8000),
        output_tokens=rng.randint(20, 2000),
        cost_usd=rng.uniform(0, 0.05),
        top_tier_cost_usd=0.08,
        latency_s=rng.uniform(0.2, 4),
        fallback=True,
        workspace="/home/dev/project",
    )


def figures(name: str, samples: list[float]) -> None:
    samples.sort()
    p95 = samples[int(0.95 * (len(samples) - 1))]
    print(f"{name:<28} median {statistics.median(samples) * 1e6:8.1f} µs   p95 {p95 * 1e6:8.1f} µs")


async def async_records(ledger: Ledger, rng: random.Random, n: int) -> list[float]:
    out = []
    for _ in range(n):
        e = entry(rng, time.time())
        t = time.perf_counter()
        await ledger.arecord(e)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.sqlite3")
        ledger.record(entry(rng, time.time()))  # open + create the schema outside the timing
        samples = []
        for _ in range(2000):
            e = entry(rng, time.time())
            t = time.perf_counter()
            ledger.record(e)
            samples.append(time.perf_counter() - t)
        figures("record()", samples)
        figures("arecord() from asyncio", asyncio.run(async_records(ledger, rng, 2000)))

        guard = BudgetGuard(ledger, rules())
        guard.blocked_reason("mini")
        samples = []
        for _ in range(20_000):
            t = time.perf_counter()
            guard.blocked_reason("mini")
            samples.append(time.perf_counter() - t)
        figures("blocked_reason() (cached)", samples)
        samples = []
        for _ in range(200):
            t = time.perf_counter()
            guard.refresh()
            samples.append(time.perf_counter() - t)
        figures("budget refresh from ledger", samples)

        now = time.time()
        bulk = [entry(rng, now - 30 * 86400 * (1 - i / n)) for i in range(n)]
        for e in bulk:
            ledger.record(e)
        t = time.perf_counter()
        entries = ledger.entries(since=now - 30 * 86400)
        read = time.perf_counter() - t
        t = time.perf_counter()
        summarize(entries, by="day")
        summ = time.perf_counter() - t
        t = time.perf_counter()
        page = render(entries, since=now - 30 * 86400, until=now)
        rend = time.perf_counter() - t
        print(
            f"{len(entries):,} requests: read {read * 1e3:.0f} ms, summarize {summ * 1e3:.0f} ms, "
            f"render {rend * 1e3:.0f} ms ({len(page) / 1024:.0f} KiB of HTML)"
        )
        ledger.close()


if __name__ == "__main__":
    main()
