"""A full run, then a grep: API key values appear in no output, log, ledger or transcript.

Covers `modelrouter ask` (plain, --json, --dry-run, failures whose provider errors echo the
key) and the language server (results, messages, log file, hover, persisted provenance and
ledger), with the keys also planted in the user's code.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from support.cli import run_modelrouter
from support.fakes.provider import FakeProvider, Reply
from support.lsp import editor_session, fenced, lines_range_json

CLOUD_KEY = "sk-proj-" + "Lk29Vb38Nm47Qa56Ws65Ed74Rf83Tg92"
OTHER_KEY = "sk-ant-api03-" + "Pq19Ow28Ie37Ru46Yt55Ha64Js73Kd82Lf91"
LSP_KEY = "test-key-not-secret"  # what the LSP test harness sets for its cloud backends


def all_files(root: Path) -> str:
    """Every byte under `root` (SQLite pages included), decoded leniently."""
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*")) if p.is_file()
    )


def rules(tmp_path: Path, fake: FakeProvider) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        f"""version: 1
backends:
  cloud:
    type: openai
    base_url: "{fake.base_url("openai", "cloud")}"
    model: cloud-model
    api_key_env: LEAK_CLOUD_KEY
  other:
    type: anthropic
    base_url: "{fake.base_url("anthropic", "other")}"
    model: other-model
    api_key_env: LEAK_OTHER_KEY
tiers:
  feature: [cloud, other]
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
            "HOME": str(tmp_path / "home"),
            "LEAK_CLOUD_KEY": CLOUD_KEY,
            "LEAK_OTHER_KEY": OTHER_KEY,
            "MODELROUTER_DATA_DIR": str(tmp_path / "data"),
            "MODELROUTER_RULES": str(rules(tmp_path, fake)),
        },
    )


def test_ask_outputs_and_data_never_contain_a_key(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    (tmp_path / "app.py").write_text(
        f'OTHER = "{OTHER_KEY}"\nCLOUD = "{CLOUD_KEY}"\n\ndef f():\n    return 1\n'
    )
    fake_provider.default("cloud", Reply(text="```python\ndef f():\n    return 2\n```\n"))
    runs = [
        ask(tmp_path, fake_provider, "--file", "app.py"),
        ask(tmp_path, fake_provider, "--file", "app.py", "--json"),
        ask(tmp_path, fake_provider, "--file", "app.py", "--dry-run"),
        ask(tmp_path, fake_provider, "--file", "app.py", "--dry-run", "--json"),
    ]
    # Providers that echo the key in their errors, as some real ones do.
    fake_provider.reply(
        "cloud",
        Reply(status=429, error_body=json.dumps({"error": {"message": f"slow, {CLOUD_KEY}"}})),
    )
    fake_provider.reply(
        "other",
        Reply(
            status=500,
            error_body=json.dumps({"type": "error", "error": {"message": f"bad {OTHER_KEY}"}}),
        ),
    )
    runs.append(ask(tmp_path, fake_provider, "--file", "app.py"))
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 1], [r.stderr for r in runs]
    assert "HTTP 429" in runs[-1].stderr and "HTTP 500" in runs[-1].stderr

    outputs = "\n".join(r.stdout + r.stderr for r in runs)
    data = all_files(tmp_path / "data") if (tmp_path / "data").exists() else ""
    home = all_files(tmp_path / "home") if (tmp_path / "home").exists() else ""
    for key in (CLOUD_KEY, OTHER_KEY):
        assert key not in outputs
        assert key not in data
        assert key not in home
    # Each provider saw its own key in its auth header only: never in any request body,
    # never the other provider's key at all.
    for request in fake_provider.requests:
        assert CLOUD_KEY not in request.raw.decode() and OTHER_KEY not in request.raw.decode()
        headers = json.dumps(request.headers)
        assert (OTHER_KEY if request.route == "cloud" else CLOUD_KEY) not in headers


async def test_language_server_outputs_and_data_never_contain_a_key(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    source = f'def area(r):\n    api_key = "{LSP_KEY}"\n    return 3.14 * r * r\n'
    echo = json.dumps({"error": {"message": f"bad key {LSP_KEY}"}})
    fake_provider.reply("strong", Reply(status=401, error_body=echo))
    log_file = tmp_path / "server.log"
    seen: list[str] = []
    async with editor_session(
        tmp_path, fake_provider, settings={"logFile": str(log_file)}
    ) as editor:
        uri = editor.open("geometry.py", source)
        whole = {"uri": uri, "range": lines_range_json(0, 3)}
        # The provider fails, echoing the key in its error: nothing is applied.
        failed = await editor.execute("modelrouter.run", {"action": "design", **whole})
        assert failed["applied"] is False
        assert "401" in failed["message"]
        # The model saw a placeholder; it writes it back, and the user keeps the value.
        sent = fake_provider.requests_to("strong")[0].raw.decode()
        (placeholder,) = set(re.findall(r"REDACTED_[A-Z_]+_\d+", sent))
        fake_provider.reply(
            "cloud",
            Reply(
                text=fenced(
                    f'def area(r):\n    api_key = "{placeholder}"\n    return 3.14159 * r * r\n'
                )
            ),
        )
        ok = await editor.execute("modelrouter.run", {"action": "implement", **whole})
        assert ok["applied"] is True, ok
        assert editor.text(uri) == source.replace("3.14", "3.14159")
        hover = await editor.hover(uri, 1, 4)
        assert hover is not None
        assert "Redactions:** 1" in hover.contents.value
        seen += [json.dumps(ok), json.dumps(failed), hover.contents.value]
        seen += [json.dumps(await editor.execute("modelrouter.doctor"))]
        seen += [json.dumps(await editor.execute("modelrouter.actions"))]
        seen += [json.dumps(await editor.execute("modelrouter.stats", {"since": "7d"}))]
        seen += [json.dumps(s) for s in editor.status]
        seen += [m.message for m in editor.client.log_messages]
        seen += [m.message for m in editor.client.messages]
    for request in fake_provider.requests:
        assert LSP_KEY not in request.raw.decode()
    seen.append(log_file.read_text(encoding="utf-8"))
    seen.append(all_files(tmp_path / "data"))
    for text in seen:
        assert LSP_KEY not in text
