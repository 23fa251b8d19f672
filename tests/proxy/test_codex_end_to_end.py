"""A real Codex CLI through the proxy's Responses endpoint: a typo fix runs one shell tool
call on an OpenAI-wire backend that really fixes the file, and Codex prints the final
message; every request of the task goes to that one backend. `modelrouter run -- codex …`
does the same with no Codex config at all, and writes none. Codex comes from tests/agents
(npm; `.ci/run` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from modelrouter.config import ClassifierSettings, Route, Rules, Timeouts
from support.fakes.provider import Reply
from support.fakes.rules import backend
from support.proxy import running_proxy

AGENTS = Path(__file__).resolve().parents[1] / "agents" / "node_modules" / ".bin"


def _codex() -> str | None:
    local = AGENTS / "codex"
    found = str(local) if local.exists() else shutil.which("codex")
    if found is None:
        return None
    try:
        done = subprocess.run([found, "--version"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if done.returncode == 0 else None


CODEX = _codex()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CODEX is None,
        reason="Codex CLI is not installed or does not run: run `npm ci` in tests/agents "
        "(as .ci/run does)",
    ),
]


def _rules(fake) -> Rules:
    # Codex's instructions and tool definitions are ~10k tokens: windows must hold them.
    big = {"context_window": 200_000, "timeouts": Timeouts(connect=5, first_byte=60, total=120)}
    cheap = backend("cheap", "openai", fake.base_url("openai", "cheap"), **big)
    claude = backend("claude", "anthropic", fake.base_url("anthropic", "claude"), **big)
    return Rules(
        backends={b.name: b for b in (cheap, claude)},
        tiers={"trivial": ("cheap",), "architecture": ("claude",)},
        routes=(Route(tier="trivial", patterns=("*typo*",), weight=3, name="t"),),
        default_tier="architecture",
        actions={},
        classifier=ClassifierSettings(mode="rules"),
    )


# The shell call that fixes the typo, then the final message.
FIX = Reply(text="", tool_calls=[("exec_command", {"cmd": "sed -i 's/prnt(/print(/' g.py"})])
DONE = Reply(text="Fixed the typo: prnt is now print.")
# The sandbox needs user namespaces a test machine may lack; the workspace is a temporary
# directory.
EXEC = ["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]


def _workspace(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "g.py").write_text("def greet():\n    prnt('hello')\n")
    return work


def _assert_fixed_on_one_backend(done: subprocess.CompletedProcess, work: Path, fake) -> None:
    assert done.returncode == 0, f"codex failed: {(done.stdout + done.stderr)[-3000:]}"
    assert (work / "g.py").read_text() == "def greet():\n    print('hello')\n"
    assert "Fixed the typo: prnt is now print." in done.stdout
    task = [r for r in fake.requests if r.body and r.body.get("tools")]
    assert len(task) >= 2 and {r.route for r in task} == {"cheap"}
    assert all(r.rejected is None for r in task)
    # The shell call's output went back in OpenAI's tool-message shape.
    last = task[-1].body["messages"]
    assert last[-1]["role"] == "tool"
    assert last[-2]["tool_calls"][0]["function"]["name"] == "exec_command"
    assert fake.requests_to("claude") == []


def _config(proxy_url: str) -> str:
    """A Codex config naming the proxy as a Responses provider (retries off: a failure
    shows at once)."""
    return (
        'model = "modelrouter/auto"\n'
        'model_provider = "modelrouter"\n'
        "[model_providers.modelrouter]\n"
        'name = "ModelRouter"\n'
        f'base_url = "{proxy_url}/v1"\n'
        'env_key = "MODELROUTER_TEST_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )


def test_codex_fixes_a_typo_through_an_openai_wire_backend(fake_provider, tmp_path):
    work = _workspace(tmp_path)
    home = tmp_path / "codex-home"
    home.mkdir()
    fake_provider.reply("cheap", FIX)
    fake_provider.default("cheap", DONE)
    with running_proxy(_rules(fake_provider)) as proxy:
        (home / "config.toml").write_text(_config(proxy.url))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "CODEX_HOME": str(home),
            "MODELROUTER_TEST_KEY": "sk-test-not-a-real-key",
        }
        done = subprocess.run(
            [CODEX, *EXEC, "fix the typo in g.py"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )
    _assert_fixed_on_one_backend(done, work, fake_provider)


RULES = """
version: 1
backends:
  cheap: {{type: openai, base_url: "{cheap}", model: cheap-model, context_window: 200000}}
  claude: {{type: anthropic, base_url: "{claude}", model: claude-model, context_window: 200000}}
tiers:
  trivial: [cheap]
  architecture: [claude]
routes:
  - {{tier: trivial, patterns: ["*typo*"], weight: 3}}
default_tier: architecture
classifier: {{mode: rules}}
"""


def test_modelrouter_run_points_codex_at_the_proxy_and_writes_no_config(fake_provider, tmp_path):
    work = _workspace(tmp_path)
    home = tmp_path / "codex-home"
    home.mkdir()
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        RULES.format(
            cheap=fake_provider.base_url("openai", "cheap"),
            claude=fake_provider.base_url("anthropic", "claude"),
        )
    )
    fake_provider.reply("cheap", FIX)
    fake_provider.default("cheap", DONE)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "CODEX_HOME": str(home),
    }
    done = subprocess.run(
        [sys.executable, "-m", "modelrouter", "run", "--rules", str(rules),
         "--", CODEX, *EXEC, "fix the typo in g.py"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    _assert_fixed_on_one_backend(done, work, fake_provider)
    assert not (home / "config.toml").exists()
