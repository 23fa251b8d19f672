"""Answers are shown and written to disk, not applied to code: a configured API key the model
quotes stays hidden in them, answer files are private (0600 in a 0700 folder), and with
`redact_secrets: false` no configured key reaches another backend."""

from __future__ import annotations

import dataclasses
import re
import stat
from pathlib import Path

import yaml
from modelrouter.backends.base import Message
from modelrouter.config import PrivacySettings
from modelrouter.engine import Engine, Job
from support.fakes.provider import FakeProvider, Reply
from support.fakes.rules import backend, rules_with
from support.lsp import editor_session, lines_range_json

KEY = "test-key-not-secret"  # FAKE_CLOUD_KEY in the editor sessions
CODE = f'API = "{KEY}"\nDB = "postgres://app:pw-Lq84Jd72Ks@db.internal/app"\n'


async def test_explain_answer_file_hides_the_configured_key_and_is_private(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    fake_provider.default("local", Reply(status=503))  # trivial: [local, cloud] -> cloud answers
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("app.py", CODE)
        fake_provider.reply("cloud", Reply(text="It sets two constants."))
        await editor.execute(
            "modelrouter.run", {"action": "explain", "uri": uri, "range": lines_range_json(0, 2)}
        )
        sent = fake_provider.requests_to("cloud")[0].raw.decode()
        assert KEY not in sent and "pw-Lq84Jd72Ks" not in sent
        placeholders = sorted(set(re.findall(r"REDACTED_[A-Z_]+_\d+", sent)))
        assert len(placeholders) == 2
        # The model quotes the placeholders back, as models do when explaining code.
        fake_provider.reply("cloud", Reply(text="The values are " + " and ".join(placeholders)))
        result = await editor.execute(
            "modelrouter.run", {"action": "explain", "uri": uri, "range": lines_range_json(0, 2)}
        )
    assert KEY not in result["answer"] and "[key hidden]" in result["answer"]
    answers = tmp_path / "data" / "answers"
    files = sorted(answers.glob("*.md"))
    assert files
    for f in files:
        assert KEY not in f.read_text()
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(answers.stat().st_mode) == 0o700
    assert "[key hidden]" in files[-1].read_text()


async def test_design_note_hides_the_configured_key(tmp_path, fake_provider) -> None:
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("app.py", CODE)
        fake_provider.reply("strong", Reply(text="# Plan\nnothing yet"))
        await editor.execute(
            "modelrouter.run", {"action": "design", "uri": uri, "range": lines_range_json(0, 1)}
        )
        sent = fake_provider.requests_to("strong")[0].raw.decode()
        (placeholder,) = {p for p in re.findall(r"REDACTED_API_KEY_\d+", sent)}
        fake_provider.reply("strong", Reply(text=f"# Keys\nUse {placeholder} everywhere."))
        result = await editor.execute(
            "modelrouter.run", {"action": "design", "uri": uri, "range": lines_range_json(0, 1)}
        )
    assert result["applied"] is True, result
    notes = list((editor.root / "notes" / "design").glob("*.md"))
    assert notes and all(KEY not in n.read_text() for n in notes)


async def test_with_redaction_off_configured_keys_still_never_reach_another_backend(
    fake_provider, monkeypatch
) -> None:
    monkeypatch.setenv("KEY_A", "sk-ant-other-backends-key-aaaa1111")
    monkeypatch.setenv("KEY_O", "openai-own-key-oooo3333")
    chain = rules_with(
        backend("o", "openai", fake_provider.base_url("openai", "o"), api_key_env="KEY_O"),
        backend("a", "anthropic", fake_provider.base_url("anthropic", "a"), api_key_env="KEY_A"),
    )
    rules = dataclasses.replace(chain, privacy=PrivacySettings(redact_secrets=False))
    fake_provider.default("o", Reply(text="done"))
    text = 'ANTHROPIC = "sk-ant-other-backends-key-aaaa1111"\npassword = "hunter2-pw"\n'
    async with Engine(rules) as engine:
        outcome = await engine.run(Job([Message("user", text)], tier="feature"))
    sent = fake_provider.requests_to("o")[0].raw.decode()
    assert "sk-ant-other-backends-key-aaaa1111" not in sent
    assert "hunter2-pw" in sent  # redaction is off: other secrets are sent as they are
    assert outcome.text == "done"


async def test_with_redaction_off_in_the_editor_the_key_is_not_sent(tmp_path, fake_provider):
    async with editor_session(tmp_path, fake_provider) as editor:
        rules = tmp_path / "rules.yaml"
        doc = yaml.safe_load(rules.read_text())
        doc["privacy"] = {"redact_secrets": False}
        rules.write_text(yaml.safe_dump(doc))
        uri = editor.open("app.py", CODE)
        fake_provider.reply("cloud", Reply(text="no code"))
        await editor.execute(
            "modelrouter.run", {"action": "implement", "uri": uri, "range": lines_range_json(0, 2)}
        )
    sent = fake_provider.requests_to("cloud")[0].raw.decode()
    assert KEY not in sent
    assert "pw-Lq84Jd72Ks" in sent
