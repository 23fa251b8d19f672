"""The editor's Ask action (tier: auto) consults the optional LLM router for an unsure
learned decision: a real LSP client, a real server process, the fake provider."""

from __future__ import annotations

import yaml
from support.fakes.provider import Reply
from support.lsp import fenced, lines_range, start_editor, write_rules

SOURCE = "def add(a, b):\n    return a + b\n"
# Vague on purpose: no route matches it, so the learned model decides, and it cannot be sure.
INSTRUCTION = "look into the thing we talked about"


def _rules(tmp_path, fake):
    path = write_rules(
        tmp_path / "rules.yaml",
        fake,
        tiers={
            "trivial": ["local"],
            "feature": ["cloud"],
            "debug": ["strong"],
            "architecture": ["strong"],
        },
    )
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del doc["actions"]["frontier-review"]  # its tier is not in the learned model's tiers
    doc["backends"]["router"] = {
        "type": "ollama",
        "base_url": fake.base_url("ollama", "router"),
        "model": "router-model",
    }
    # The threshold is raised so the test does not depend on the shipped weights' exact
    # confidence for INSTRUCTION.
    doc["classifier"] = {"llm_router": "router", "llm_router_below": 0.95}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


async def test_ask_action_uses_the_router_models_tier(tmp_path, fake_provider):
    fake_provider.default("router", Reply(text="architecture"))
    fake_provider.default("strong", Reply(text=fenced("def add(a, b):\n    return b + a\n")))
    root = tmp_path / "ws"
    root.mkdir()
    editor = await start_editor(_rules(tmp_path, fake_provider), root, tmp_path / "data")
    try:
        uri = editor.open("calc.py", SOURCE)
        rng = lines_range(0, 2)
        result = await editor.execute(
            "modelrouter.run",
            {
                "action": "ask",
                "uri": uri,
                "range": {
                    "start": {"line": rng.start.line, "character": rng.start.character},
                    "end": {"line": rng.end.line, "character": rng.end.character},
                },
                "instruction": INSTRUCTION,
            },
        )
    finally:
        await editor.stop()
    assert result["tier"] == "architecture" and result["backend"] == "strong", result
    asked = fake_provider.requests_to("router")
    assert len(asked) == 1
    assert INSTRUCTION in asked[0].body["messages"][-1]["content"]
