"""`modelrouter ask --dry-run` shows exactly what would be sent, and sends nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.cli import run_modelrouter
from support.fakes.provider import FakeProvider

CLOUD_KEY = "sk-proj-" + "Zx81Qw72Er63Ty54Ui45Op36As27Df18"
PASSWORD = "pw-Hq73ks91Lz"
AWS_ID = "AKIA" + "Q7W3E9R2T8Y4U6I1"


def rules(tmp_path: Path, fake: FakeProvider) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        f"""version: 1
backends:
  cloud:
    type: openai
    base_url: "{fake.base_url("openai", "cloud")}"
    model: cloud-model
    api_key_env: DRY_CLOUD_KEY
  box:
    type: openai
    base_url: "{fake.base_url("openai", "box")}"
    model: box-model
    local: true
tiers:
  feature: [cloud, box]
default_tier: feature
"""
    )
    return path


def ask(tmp_path: Path, fake: FakeProvider, *args: str) -> subprocess.CompletedProcess:
    return run_modelrouter(
        "ask",
        "tidy this",
        "--tier",
        "feature",
        *args,
        cwd=tmp_path,
        env={
            "HOME": str(tmp_path),
            "DRY_CLOUD_KEY": CLOUD_KEY,
            "MODELROUTER_DATA_DIR": str(tmp_path / "data"),
            "MODELROUTER_RULES": str(rules(tmp_path, fake)),
        },
    )


def workspace(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        f'PASSWORD = "{PASSWORD}"\nAWS = "{AWS_ID}"\nKEY = "{CLOUD_KEY}"\n\ndef f():\n    pass\n'
    )
    (tmp_path / ".env.local").write_text("SECRET=from-the-env-file-123\n")


def test_dry_run_prints_the_redacted_messages_and_sends_nothing(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    workspace(tmp_path)
    result = ask(tmp_path, fake_provider, "--file", "app.py", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert fake_provider.requests == []
    assert "nothing was sent" in out
    assert "backend: cloud (openai, model cloud-model)" in out
    assert fake_provider.base_url("openai", "cloud") in out
    assert "leaves this machine" in out
    assert "redactions: 3" in out
    assert "def f():" in out  # the code itself is shown
    for secret in (CLOUD_KEY, PASSWORD, AWS_ID):
        assert secret not in out + result.stderr


def test_dry_run_json_matches_what_a_real_run_sends(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    workspace(tmp_path)
    dry = ask(tmp_path, fake_provider, "--file", "app.py", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["backend"]["name"] == "cloud" and plan["backend"]["local"] is False
    assert plan["redactions"] == 3
    assert sorted(plan["placeholders"].values()) == ["API_KEY", "AWS_KEY", "PASSWORD"]
    assert fake_provider.requests == []

    real = ask(tmp_path, fake_provider, "--file", "app.py")
    assert real.returncode == 0, real.stderr
    (request,) = fake_provider.requests_to("cloud")
    sent = [{"role": m["role"], "content": m["content"]} for m in request.body["messages"]]
    assert sent == plan["messages"]


def test_dry_run_of_a_local_only_file_names_the_rule_and_the_local_backend(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    workspace(tmp_path)
    result = ask(tmp_path, fake_provider, "--file", ".env.local", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["local_only"] == ".env.local matches local_only pattern '.env*'"
    assert plan["backend"]["name"] == "box"
    assert plan["skipped"][0]["backend"] == "cloud"
    assert "stay on this machine" in plan["skipped"][0]["reason"]
    assert fake_provider.requests == []
