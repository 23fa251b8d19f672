"""No backend configured: the trivial tier's embedded model fixes a typo, end to end.

A machine with no keys and no Ollama: the shipped default rules (the `local` Ollama backend
pointed at a closed loopback port) leave only the packaged model for the trivial tier. A
real LSP client runs "Fix typo" and receives the edit; `modelrouter ask` does the same from
the command line. These load the real model, so they are marked `embedded` and `slow`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install 'modelrouter[local]')"
)

from support.lsp import lines_range, start_editor

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

# Keys the default rules' cloud backends read; none may be set for these tests.
KEY_VARS = ("GEMINI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")

SOURCE = """import os


def greet(name):
    pirnt(f"Hello, {name}")
    return os.getcwd()
"""
TYPO_LINE = 4  # 0-based line of `pirnt(...)`


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def no_backend_rules(tmp_path: Path) -> Path:
    """The default rules, with Ollama unreachable, generous timeouts for a busy CI box and no
    typo fixer (these prove the model)."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        "extends: default\n"
        "backends:\n"
        "  local:\n"
        f'    base_url: "http://127.0.0.1:{closed_port()}"\n'
        "    timeouts: {connect: 2, first_byte: 10, total: 30}\n"
        "  embedded:\n"
        "    timeouts: {connect: 5, first_byte: 600, total: 1200}\n"
        "fixers:\n"
        "  typos: null\n",
        encoding="utf-8",
    )
    return path


def assert_typo_fixed(line: str) -> None:
    """The misspelt call is gone, the intended one is there, the rest of the line kept."""
    assert "pirnt" not in line, line
    assert "print(" in line, line
    assert line.startswith("    print("), line  # indentation restored
    assert "Hello" in line and "{name}" in line, line


async def test_fix_typo_is_applied_from_the_embedded_model_with_no_backend_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `codex` CLI either
    root = tmp_path / "ws"
    root.mkdir()
    editor = await start_editor(no_backend_rules(tmp_path), root, tmp_path / "data")
    try:
        uri = editor.open("app.py", SOURCE)
        # Only the embedded model is usable: the trivial action is enabled and names it.
        actions = await editor.code_actions(uri, lines_range(TYPO_LINE, TYPO_LINE + 1))
        fix = next(a for a in actions if a.data["action"] == "fix-typo")
        assert fix.disabled is None, fix.disabled
        implement = [a for a in actions if a.data["action"] != "fix-typo" and a.disabled]
        assert implement, "actions of tiers with no usable backend are shown disabled"

        result = await editor.execute("modelrouter.run", *fix.command.arguments)
        assert result["applied"] is True, result
        assert (result["backend"], result["tier"]) == ("embedded", "trivial"), result

        (params,) = editor.applied
        (change,) = params.edit.document_changes
        assert change.text_document.uri == uri
        (text_edit,) = change.edits
        assert_typo_fixed(text_edit.new_text.splitlines()[0])
        # The edit landed on the editor's copy, and nothing outside the selection moved.
        lines = editor.text(uri).splitlines()
        assert_typo_fixed(lines[TYPO_LINE])
        others = SOURCE.splitlines()
        assert lines[:TYPO_LINE] == others[:TYPO_LINE]
        assert lines[TYPO_LINE + 1 :] == others[TYPO_LINE + 1 :]

        hover = await editor.hover(uri, TYPO_LINE, 6)
        assert hover is not None and "smollm2" in hover.contents.value.lower()
    finally:
        await editor.stop()


def test_ask_fixes_a_typo_with_no_network_and_no_keys(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text(SOURCE, encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if k not in KEY_VARS and not k.startswith("MODELROUTER")
    }
    env.update(
        PATH="/usr/bin:/bin",
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        MODELROUTER_DATA_DIR=str(tmp_path / "data"),
        MODELROUTER_RULES=str(no_backend_rules(tmp_path)),
    )
    line = f"{TYPO_LINE + 1}:{TYPO_LINE + 1}"
    command = ["ask", "--tier", "trivial", "--file", str(source), "--range", line, "fix typo"]
    result = subprocess.run(
        [sys.executable, "-m", "modelrouter", *command, "--json"],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["backend"] == "embedded", outcome
    # Ollama was tried first and refused the connection; no key-needing backend was tried.
    tried = [a["backend"] for a in outcome["attempts"]]
    assert tried[-1] == "embedded" and "gemini" not in tried, tried
    code = outcome["text"].split("```")[1].split("\n", 1)[1]
    assert_typo_fixed(code.splitlines()[0])
    # The file itself is left alone: `ask` prints the answer.
    assert source.read_text(encoding="utf-8") == SOURCE
