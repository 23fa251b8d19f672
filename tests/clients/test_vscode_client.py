"""The VS Code extension (clients/vscode): its own test suite (type check, unit tests with a
stubbed `vscode`, the integration test driving the real `modelrouter lsp` through
vscode-languageserver-protocol) and its packaging into a .vsix that lists the commands and
settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "clients" / "vscode"
BIN = Path(sys.executable).parent
NPM = shutil.which("npm")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NPM is None, reason="npm not found: install Node.js 20+ and npm"),
    pytest.mark.skipif(
        not (EXTENSION / "node_modules").is_dir(),
        reason="clients/vscode/node_modules missing: run `npm ci` in clients/vscode",
    ),
]

COMMANDS = {
    "Fix typo",
    "Add docstring",
    "Explain",
    "Implement",
    "Refactor",
    "Write tests",
    "Design",
    "Ask…",
    "Redo with a stronger model",
    "Show usage",
    "Open rules file",
    "Restart server",
}
SETTINGS = {
    "modelrouter.server.path",
    "modelrouter.rulesFile",
    "modelrouter.confirmEdits",
    "modelrouter.trace.server",
}


def npm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run npm in the extension folder with this environment's `modelrouter` first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MODELROUTER_RULES", None)
    server = BIN / "modelrouter"
    if server.exists():
        env["MODELROUTER_SERVER"] = str(server)
    assert NPM is not None
    return subprocess.run(
        [NPM, *args],
        cwd=EXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_npm_test_passes_with_the_integration_test_against_the_real_server() -> None:
    proc = npm("test")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped) (\d+)$", out, re.M))
    assert counts.get("fail") == "0", out[-6000:]
    # The integration test skips only when the server is missing; here it must run.
    assert counts.get("skipped") == "0", out[-6000:]
    assert int(counts["pass"]) > 0
    assert "ok " in out and "workspace/applyEdit" in out


def test_npm_run_package_builds_a_vsix_listing_the_commands_and_settings() -> None:
    vsix = EXTENSION / "modelrouter.vsix"
    vsix.unlink(missing_ok=True)
    proc = npm("run", "package")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("extension/package.json"))
    assert "extension/dist/extension.js" in names
    assert not any(n.startswith("extension/node_modules/") for n in names)
    titles = {c["title"] for c in manifest["contributes"]["commands"]}
    assert titles >= COMMANDS
    assert all(c["category"] == "ModelRouter" for c in manifest["contributes"]["commands"])
    assert set(manifest["contributes"]["configuration"]["properties"]) >= SETTINGS
    assert manifest["engines"]["vscode"] == "^1.91.0"
