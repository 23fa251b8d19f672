"""Budget state recorded by one command shows in the next: `ask` spends, `route` and
`doctor` then say the backend is skipped and why, and the next `ask` falls back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from modelrouter.ledger import Ledger
from support.fakes.provider import Reply


def run(*args: str, data) -> subprocess.CompletedProcess:
    env = {**os.environ, "MODELROUTER_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "modelrouter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_spent_budget_is_shown_and_routed_around(tmp_path, fake_provider):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(f"""\
        version: 1
        backends:
          cheap:
            type: openai
            base_url: "{fake_provider.base_url("openai", "cheap")}"
            model: cheap-model
            price: {{input: 1, output: 2}}
            budget: {{daily_usd: 0.001, requests_per_hour: 100}}
          dear:
            type: anthropic
            base_url: "{fake_provider.base_url("anthropic", "dear")}"
            model: dear-model
            price: {{input: 3, output: 15}}
        tiers:
          feature: [cheap, dear]
        default_tier: feature
        """)
    )
    # 1000 in + 100 out at $1/$2 per million: $0.0012, over the $0.001 daily budget.
    fake_provider.default("cheap", Reply(text="cheap answer", input_tokens=1000, output_tokens=100))
    fake_provider.default("dear", Reply(text="dear answer", input_tokens=1000, output_tokens=100))
    data = tmp_path / "data"

    first = run("ask", "implement it", "--rules", str(rules), data=data)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "cheap answer"

    reason = "daily budget $0.001 spent ($0.0012 today)"
    route = run("route", "implement it", "--rules", str(rules), "--json", data=data)
    assert json.loads(route.stdout)["skipped"] == [{"name": "cheap", "reason": reason}]
    doctor = run("doctor", "--rules", str(rules), "--json", data=data)
    cheap = next(b for b in json.loads(doctor.stdout)["backends"] if b["name"] == "cheap")
    assert (cheap["usable"], cheap["reason"]) == (False, reason)

    dry = run("ask", "implement it", "--rules", str(rules), "--dry-run", "--json", data=data)
    dry_out = json.loads(dry.stdout)
    assert dry_out["skipped"] == [{"backend": "cheap", "reason": reason}]
    assert dry_out["backend"]["name"] == "dear"

    second = run("ask", "implement it", "--rules", str(rules), data=data)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "dear answer"
    assert f"skipped: cheap: {reason}" in second.stderr and "ledger #2" in second.stderr
    assert len(fake_provider.requests_to("cheap")) == 1

    entries = Ledger(data / "ledger.sqlite3").entries()
    assert [(e.source, e.backend, e.fallback) for e in entries] == [
        ("ask", "cheap", False),
        ("ask", "dear", True),
    ]
    assert (entries[1].attempts[0].outcome, entries[1].attempts[0].error) == ("skipped", reason)
