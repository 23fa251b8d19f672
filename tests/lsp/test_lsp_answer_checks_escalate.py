"""Checks on every answer through the language server: a cheap answer that fails a check is
re-asked one tier up with the failure stated, the passing answer is applied and the hover
lists every attempt; when none passes, nothing is applied and the message says why."""

from __future__ import annotations

import pytest
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced

SOURCE = "import math\n\n\ndef circle(r):\n    # area of teh circle\n    return math.pi * r * r\n"
RANGE = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
FIX = "# area of the circle\nreturn math.pi * r * r\n"
BROKEN = "# area of the circle\nreturn math.pi * (r * r\n"


async def _run(editor, uri, action="fix-typo", rng=RANGE):
    return await editor.execute("modelrouter.run", {"action": action, "uri": uri, "range": rng})


@pytest.mark.parametrize(
    "extra", [{"checks": {"enabled": False}}, {"escalation": {"max_steps": 0}}]
)
async def test_the_knobs_turn_checks_or_escalation_off(tmp_path, fake_provider, extra):
    fake_provider.default("local", Reply(text=fenced(BROKEN)))
    fake_provider.default("cloud", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider, extra=extra) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _run(editor, uri)
        assert fake_provider.requests_to("cloud") == []  # never escalated
        if "checks" in extra:
            # No checks: the cheap answer is applied as it came.
            assert result["applied"] is True and result["backend"] == "local"
            assert "(r * r" in editor.text(uri)
        else:
            # Checked but not escalated: the broken answer is not applied.
            assert result["applied"] is False and editor.text(uri) == SOURCE
            assert "parse" in result["message"]
