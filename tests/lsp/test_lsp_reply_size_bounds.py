"""An enormous or out-of-proportion reply changes nothing and says why.

Two bounds: the engine stops reading a stream past a size tied to the backend's
`max_output_tokens` (memory stays bounded, the next backend is tried), and every edit is
bounded relative to the code it replaces (a fix-typo that grows a line 1000x is no fix).
"""

from __future__ import annotations

import pytest
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range_json

SOURCE = "def area(w, h):\n    return w * h  # teh area\n"


async def test_a_reply_past_the_stream_cap_is_cut_off_and_applies_nothing(tmp_path, fake_provider):
    huge = fenced("    return w * h  # the area " + "x" * 10_000_000 + "\n")
    for route in ("local", "cloud"):
        fake_provider.default(route, Reply(text=huge, chunk_size=65536))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("geo.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run", {"action": "fix-typo", "uri": uri, "range": lines_range_json(1, 2)}
        )
        assert result["applied"] is False, result
        assert "characters" in result["message"] and "stopped" in result["message"]
        assert editor.applied == []
        assert editor.text(uri) == SOURCE


@pytest.mark.parametrize(
    ("action", "growth", "applied"),
    [
        ("fix-typo", 1000, False),  # a typo fix that grows the line 1000x
        ("fix-typo", 2, True),  # a longer comment is still a fix
        ("implement", 3000, False),  # beyond even an implementation's allowance
        ("implement", 60, True),  # a stub line implemented as a real function
    ],
)
async def test_edits_are_bounded_relative_to_the_selection(
    tmp_path, fake_provider, action, growth, applied
):
    line = "    return w * h  # teh area\n"
    body = "    # " + "the area " * (len(line) * growth // 9) + "\n" + "    return w * h\n"
    route = "local" if action == "fix-typo" else "cloud"
    fake_provider.default(route, Reply(text=fenced(body.replace("    ", "", 1)), chunk_size=4096))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("geo.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run", {"action": action, "uri": uri, "range": lines_range_json(1, 2)}
        )
        assert result["applied"] is applied, result
        if applied:
            assert "the area the area" in editor.text(uri)
        else:
            assert (
                "out of proportion" in result["message"]
                and "nothing was changed" in (result["message"])
            )
            assert editor.applied == []
            assert editor.text(uri) == SOURCE
