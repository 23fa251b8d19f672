"""Through the language server: a `.env` file stays on this machine, and secrets in ordinary
files reach the cloud only as placeholders while the user's file keeps its values."""

from __future__ import annotations

import re
from pathlib import Path

from support.fakes.provider import FakeProvider, Reply
from support.lsp import editor_session, fenced, lines_range, lines_range_json

ENV = "API_TOKEN=tok-Hs82Kd91Lq\nDEBUG=1\n"
APP = 'db_password = "pw-Lq84Jd72Ks"\nretries = 3\n'


async def test_env_file_goes_to_the_local_backend_only(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    fake_provider.default("local", Reply(text=fenced("API_TOKEN=tok-Hs82Kd91Lq\nDEBUG=0\n", "")))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open(".env", ENV, language_id="dotenv")
        # trivial: [local, cloud] — only the local model may see it.
        result = await editor.execute(
            "modelrouter.run", {"action": "fix-typo", "uri": uri, "range": lines_range_json(0, 2)}
        )
        assert result["applied"] is True, result
        assert result["backend"] == "local"
        # feature: [cloud, strong] — nothing local: refused, with the reason.
        refused = await editor.execute(
            "modelrouter.run", {"action": "implement", "uri": uri, "range": lines_range_json(0, 2)}
        )
        assert refused["applied"] is False
        assert "stay on this machine" in refused["message"]
    assert "tok-Hs82Kd91Lq" in "".join(r.raw.decode() for r in fake_provider.requests_to("local"))
    assert fake_provider.requests_to("cloud") == []
    assert fake_provider.requests_to("strong") == []


async def test_env_file_lists_cloud_only_actions_as_disabled(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    async with editor_session(tmp_path, fake_provider) as editor:
        env = editor.open(".env", ENV, language_id="dotenv")
        app = editor.open("app.py", APP)
        on_env = {a.data["action"]: a for a in await editor.code_actions(env, lines_range(0, 1))}
        on_app = {a.data["action"]: a for a in await editor.code_actions(app, lines_range(0, 1))}
    # trivial has a local backend; feature has none, so on `.env` it cannot run.
    assert on_env["fix-typo"].disabled is None
    assert "stay on this machine" in on_env["implement"].disabled.reason
    assert on_app["implement"].disabled is None
    assert fake_provider.requests == []


async def test_cloud_sees_placeholders_and_the_file_keeps_its_values(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("app.py", APP)
        # A first answer without code: learn what the model was shown.
        fake_provider.reply("cloud", Reply(text="I need more context."))
        first = await editor.execute(
            "modelrouter.run", {"action": "implement", "uri": uri, "range": lines_range_json(0, 2)}
        )
        assert first["applied"] is False
        sent = fake_provider.requests_to("cloud")[0].raw.decode()
        assert "pw-Lq84Jd72Ks" not in sent
        (placeholder,) = set(re.findall(r"REDACTED_[A-Z_]+_\d+", sent))
        # The model keeps the placeholder in its rewrite; the edit carries the real value.
        fake_provider.reply(
            "cloud", Reply(text=fenced(f'db_password = "{placeholder}"\nretries = 5\n'))
        )
        result = await editor.execute(
            "modelrouter.run", {"action": "implement", "uri": uri, "range": lines_range_json(0, 2)}
        )
        assert result["applied"] is True, result
        assert editor.text(uri) == APP.replace("retries = 3", "retries = 5")
        edit = editor.applied[-1].edit.document_changes[0].edits[0]
        assert "pw-Lq84Jd72Ks" in edit.new_text and placeholder not in edit.new_text
        hover = await editor.hover(uri, 0, 3)
        assert hover is not None and "Redactions:** 1" in hover.contents.value
