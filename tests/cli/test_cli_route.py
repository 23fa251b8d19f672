"""The real `modelrouter` console script: route, doctor, --version."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from modelrouter import __version__

EXE = shutil.which("modelrouter", path=str(Path(sys.executable).parent)) or "modelrouter"


def cli(
    *args: str, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "ANTHROPIC_API_KEY")}
    base.pop("MODELROUTER_RULES", None)
    return subprocess.run(
        [EXE, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**base, **(env or {})},
        cwd=cwd,
    )


def test_version():
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"modelrouter {__version__}"


def test_route_json_shows_tier_reason_and_skips(tmp_path):
    proc = cli("route", "fix typo in the README", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["tier"] == "trivial"
    assert "typo" in out["reason"]
    assert out["backends"][0]["name"] == "local"
    assert {"name": "gemini", "reason": "set GEMINI_API_KEY"} in out["skipped"]


def test_route_with_key_set_lists_backend_as_candidate(tmp_path):
    proc = cli("route", "fix typo", "--json", env={"GEMINI_API_KEY": "x"}, cwd=tmp_path)
    out = json.loads(proc.stdout)
    # `embedded` follows only where the `local` extra is installed; without it, it is the
    # one skip, and says what to install (the README's `'.[dev]'` set-up has no extra).
    assert [b["name"] for b in out["backends"]][:2] == ["local", "gemini"]
    skipped = {s["name"]: s["reason"] for s in out["skipped"]}
    if importlib.util.find_spec("llama_cpp") is not None:
        assert skipped == {}
    else:
        assert list(skipped) == ["embedded"]
        assert "pip install 'modelrouter[local]'" in skipped["embedded"]


def test_route_text_output(tmp_path):
    proc = cli("route", "Redesign the plugin architecture", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "tier:       architecture" in proc.stdout
    assert "skipped  claude: set ANTHROPIC_API_KEY" in proc.stdout


def test_route_language_and_path_filters(tmp_path):
    rules = tmp_path / ".modelrouter.yaml"
    rules.write_text(
        "extends: default\nroutes:\n"
        "  - {name: rust-unsafe, tier: architecture, weight: 9, languages: [rust],"
        " paths: ['src/**'], patterns: [unsafe]}\n"
    )
    hit = json.loads(
        cli(
            "route",
            "remove unsafe",
            "--lang",
            "rust",
            "--path",
            "src/a/b.rs",
            "--json",
            cwd=tmp_path,
        ).stdout
    )
    miss = json.loads(cli("route", "remove unsafe", "--lang", "go", "--json", cwd=tmp_path).stdout)
    assert hit["tier"] == "architecture" and "rust-unsafe" in hit["reason"]
    assert miss["tier"] != "architecture" or "rust-unsafe" not in miss["reason"]
    assert hit["rules_file"].endswith(".modelrouter.yaml")


def test_broken_rules_give_positions_not_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: default\ntiers:\n  trivial: [nowhere]\n")
    proc = cli("route", "x", "--rules", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:3:13: unknown backend 'nowhere'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_python_dash_m_works():
    proc = subprocess.run(
        [sys.executable, "-m", "modelrouter", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.strip() == f"modelrouter {__version__}"


def test_doctor_reports_each_backend(tmp_path):
    proc = cli("doctor", "--json", "--no-probe", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    by_name = {b["name"]: b for b in out["backends"]}
    assert by_name["gemini"]["usable"] is False
    assert by_name["gemini"]["reason"] == "set GEMINI_API_KEY"
    assert by_name["local"]["usable"] is True
    assert out["version"] == __version__
    text = cli("doctor", cwd=tmp_path, env={"GEMINI_API_KEY": "k"}).stdout
    assert "gemini" in text and "unusable: set ANTHROPIC_API_KEY" in text


@pytest.mark.parametrize("command", ["doctor", "route"])
def test_doctor_and_route_on_broken_rules(tmp_path, command):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nbackends: [a]\n")
    args = [command, "--rules", str(bad)] + (["x"] if command == "route" else [])
    proc = cli(*args)
    assert proc.returncode != 0
    assert f"{bad}:2:11:" in proc.stdout + proc.stderr


def test_doctor_probes_local_ollama_for_the_server_and_the_model(tmp_path, fake_provider):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""version: 1
backends:
  pulled: {{type: ollama, base_url: "{fake_provider.base_url("ollama", "a")}", model: "qwen3:4b"}}
  missing: {{type: ollama, base_url: "{fake_provider.base_url("ollama", "b")}", model: "gemma3"}}
  down: {{type: ollama, base_url: "http://127.0.0.1:{dead_port}", model: "gemma3"}}
tiers:
  trivial: [pulled, missing, down]
default_tier: trivial
"""
    )
    fake_provider.ollama_models = ["qwen3:4b", "llama3:latest"]
    out = json.loads(cli("doctor", "--rules", str(rules), "--json").stdout)
    by_name = {b["name"]: b for b in out["backends"]}
    assert by_name["pulled"]["usable"] is True
    assert by_name["missing"]["reason"] == "model gemma3 not pulled (run `ollama pull gemma3`)"
    assert "not reachable at http://127.0.0.1:" in by_name["down"]["reason"]
    assert out["tiers"] == {"trivial": ["pulled"]}
