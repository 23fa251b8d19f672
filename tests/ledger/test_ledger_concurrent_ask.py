"""A server-like engine and four `modelrouter ask` processes share one ledger: 500 requests,
every one recorded once, with its attempts."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading

import httpx
import pytest
from modelrouter.backends.base import Message
from modelrouter.engine import Engine, Job
from modelrouter.ledger import Ledger
from modelrouter.rules import load_rules
from support.fakes.provider import Reply

CLI_PROCESSES = 4
ASKS_EACH = 5
SERVER_REQUESTS = 500 - CLI_PROCESSES * ASKS_EACH
ASK = [sys.executable, "-m", "modelrouter", "ask"]


def write_rules(tmp_path, fake) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        backends:
          cloud:
            type: openai
            base_url: "{fake.base_url("openai", "cloud")}"
            model: gpt-test
            price: {{input: 1, output: 2}}
        tiers:
          feature: [cloud]
        default_tier: feature
        """)
    )
    return str(path)


@pytest.mark.slow
async def test_server_and_ask_processes_record_every_request(tmp_path, fake_provider):
    fake_provider.default("cloud", Reply(text="ok", input_tokens=100, output_tokens=10))
    rules_file = write_rules(tmp_path, fake_provider)
    data = tmp_path / "data"
    env = {**os.environ, "MODELROUTER_DATA_DIR": str(data)}
    failures: list[str] = []

    def cli_worker(k: int) -> None:
        for i in range(ASKS_EACH):
            done = subprocess.run(
                [*ASK, f"implement cli-{k}-{i}", "--rules", rules_file, "--tier", "feature"],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )
            if done.returncode != 0:
                failures.append(done.stderr)

    workers = [threading.Thread(target=cli_worker, args=(k,)) for k in range(CLI_PROCESSES)]
    for w in workers:
        w.start()

    ledger = Ledger(data / "ledger.sqlite3")
    # A few requests in flight, like an editor; the fake server's listen backlog is small.
    limit = asyncio.Semaphore(4)
    async with httpx.AsyncClient() as client:
        engine = Engine(load_rules(rules_file), ledger=ledger, client=client)

        async def one(i: int) -> int | None:
            async with limit:
                job = Job([Message("user", f"server-{i}")], tier="feature", source="lsp")
                return (await engine.run(job)).ledger_id

        ids = await asyncio.gather(*(one(i) for i in range(SERVER_REQUESTS)))
    for w in workers:
        await asyncio.to_thread(w.join)
    ledger.close()

    assert failures == []
    assert None not in ids and len(set(ids)) == SERVER_REQUESTS
    conn = sqlite3.connect(data / "ledger.sqlite3")
    by_source = dict(conn.execute("SELECT source, COUNT(*) FROM requests GROUP BY source"))
    assert by_source == {"lsp": SERVER_REQUESTS, "ask": CLI_PROCESSES * ASKS_EACH}
    # `ask --tier` is an explicit choice: its text is kept as a routing label.
    prompts = {p for (p,) in conn.execute("SELECT prompt FROM requests WHERE source = 'ask'")}
    assert prompts == {
        f"implement cli-{k}-{i}" for k in range(CLI_PROCESSES) for i in range(ASKS_EACH)
    }
    attempts = conn.execute("SELECT COUNT(*) FROM attempts WHERE outcome = 'ok'").fetchone()[0]
    assert attempts == 500
    spend = conn.execute("SELECT SUM(cost_usd) FROM requests").fetchone()[0]
    assert spend == pytest.approx(500 * (100 * 1 + 10 * 2) / 1e6)
