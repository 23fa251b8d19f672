"""`modelrouter ask` consults the optional LLM router for an unsure learned decision: a real
subprocess, a rules file extending the shipped one, every backend on the fake provider."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from support.fakes.provider import Reply

TIERS = ("trivial", "feature", "debug", "architecture")
# Vague on purpose: no rule decides it, so the learned model does, and it cannot be sure.
REQUEST = "look into the thing we talked about"


def _rules(tmp_path, fake, *, router: bool) -> str:
    backends = "".join(
        f"""
          b_{tier}:
            type: ollama
            base_url: "{fake.base_url("ollama", "b_" + tier)}"
            model: {tier}-model
            price: {{input: 0, output: 0}}"""
        for tier in TIERS
    )
    tiers = "".join(f"\n          {tier}: [b_{tier}]" for tier in TIERS)
    # The threshold is raised so the test does not depend on the shipped weights' exact
    # confidence for REQUEST.
    classifier = "llm_router: router, llm_router_below: 0.95" if router else "mode: hybrid"
    path = tmp_path / "rules.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        extends: default
        backends:{backends}
          router:
            type: ollama
            base_url: "{fake.base_url("ollama", "router")}"
            model: router-model
            price: {{input: 0, output: 0}}
        tiers:{tiers}
        classifier: {{{classifier}}}
        """)
    )
    return str(path)


def _ask(tmp_path, rules: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modelrouter", "ask", REQUEST, "--rules", rules],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MODELROUTER_DATA_DIR": str(tmp_path)},
    )


def _answered_by(fake) -> list[str]:
    return [t for t in TIERS if fake.requests_to("b_" + t)]


def test_ask_uses_the_router_models_tier_for_an_unsure_request(tmp_path, fake_provider):
    fake_provider.default("router", Reply(text="architecture"))
    for tier in TIERS:
        fake_provider.default("b_" + tier, Reply(text=f"answer from {tier}"))
    result = _ask(tmp_path, _rules(tmp_path, fake_provider, router=True))
    assert result.returncode == 0, result.stderr
    asked = fake_provider.requests_to("router")
    assert len(asked) == 1
    assert REQUEST in asked[0].body["messages"][-1]["content"]
    assert _answered_by(fake_provider) == ["architecture"]
    assert result.stdout.strip() == "answer from architecture"
    assert "tier architecture: LLM router router: architecture" in result.stderr


def test_ask_without_a_router_never_calls_one(tmp_path, fake_provider):
    for tier in TIERS:
        fake_provider.default("b_" + tier, Reply(text=f"answer from {tier}"))
    result = _ask(tmp_path, _rules(tmp_path, fake_provider, router=False))
    assert result.returncode == 0, result.stderr
    assert fake_provider.requests_to("router") == []
    answered = _answered_by(fake_provider)
    assert len(answered) == 1
    assert f"tier {answered[0]}: learned model" in result.stderr
