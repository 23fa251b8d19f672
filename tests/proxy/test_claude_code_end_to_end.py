"""A real Claude Code CLI through the proxy: a typo fix runs Read then Edit tool calls on an
OpenAI-wire backend and really fixes the file; a design question reaches the Anthropic-wire
backend. Claude Code comes from tests/agents (npm; `.ci/run` installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from modelrouter.config import ClassifierSettings, ProxySettings, Route, Rules, Timeouts
from support.fakes.provider import Reply
from support.fakes.rules import backend
from support.proxy import running_proxy

AGENTS = Path(__file__).resolve().parents[1] / "agents" / "node_modules" / ".bin"


def _claude() -> str | None:
    local = AGENTS / "claude"
    return str(local) if local.exists() else shutil.which("claude")


CLAUDE = _claude()
pytestmark = pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code is not installed: run `npm ci` in tests/agents (as .ci/run does)",
)


def _rules(fake) -> Rules:
    # Claude Code's ~24 tool definitions alone are ~14k tokens: windows must hold them.
    big = {"context_window": 200_000, "timeouts": Timeouts(connect=5, first_byte=60, total=120)}
    cheap = backend("cheap", "openai", fake.base_url("openai", "cheap"), **big)
    small = backend("small", "ollama", fake.base_url("ollama", "small"), **big)
    claude = backend("claude", "anthropic", fake.base_url("anthropic", "claude"), **big)
    return Rules(
        backends={b.name: b for b in (cheap, small, claude)},
        tiers={"trivial": ("cheap", "small"), "architecture": ("claude",)},
        routes=(
            Route(tier="trivial", patterns=("typo*",), weight=3, name="t"),
            Route(tier="architecture", patterns=("design*",), weight=3, name="a"),
        ),
        default_tier="architecture",
        actions={},
        classifier=ClassifierSettings(mode="rules"),
        # Claude Code's small-model calls (titles, checks) go to `small`, so the scripted
        # replies on `cheap` answer the task's turns only.
        proxy=ProxySettings(models={"claude-*haiku*": "small"}),
    )


def _run(prompt: str, proxy_url: str, cwd: Path, home: Path) -> dict:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": proxy_url,
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CI": "1",
    }
    done = subprocess.run(
        [CLAUDE, "-p", prompt, "--permission-mode", "acceptEdits", "--output-format", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"claude failed: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_claude_code_fixes_a_typo_through_an_openai_wire_backend(fake_provider, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    target = work / "g.py"
    target.write_text("def greet():\n    prnt('hello')\n")
    fake = fake_provider
    fake.default("small", Reply(text="Fix typo"))
    fake.reply(
        "cheap",
        Reply(text="", tool_calls=[("Read", {"file_path": str(target)})]),
        Reply(
            text="",
            tool_calls=[
                (
                    "Edit",
                    {"file_path": str(target), "old_string": "prnt(", "new_string": "print("},
                )
            ],
        ),
    )
    fake.default("cheap", Reply(text="Fixed the typo: prnt is now print."))
    with running_proxy(_rules(fake)) as proxy:
        result = _run("fix the typo in g.py", proxy.url, work, tmp_path / "home")
    assert target.read_text() == "def greet():\n    print('hello')\n"
    assert "print" in result.get("result", "")
    task = [r for r in fake.requests if r.body and r.body.get("tools")]
    assert len(task) >= 3 and {r.route for r in task} == {"cheap"}
    assert all(r.rejected is None for r in task)
    # The last turn carried the Edit's result back in OpenAI's tool-message shape.
    assert task[-1].body["messages"][-1]["role"] == "tool"
    assert fake.requests_to("claude") == []


def test_a_design_question_reaches_the_anthropic_backend(fake_provider, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    fake_provider.default("small", Reply(text="Design"))
    fake_provider.default("claude", Reply(text="Use a plugin registry with entry points."))
    with running_proxy(_rules(fake_provider)) as proxy:
        result = _run(
            "design a plugin architecture for this CLI", proxy.url, work, tmp_path / "home"
        )
    assert "plugin registry" in result.get("result", "")
    main = [r for r in fake_provider.requests if r.body and r.body.get("tools")]
    assert main and {r.route for r in main} == {"claude"}
    assert fake_provider.requests_to("cheap") == []
