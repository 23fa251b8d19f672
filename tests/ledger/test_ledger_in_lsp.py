"""Through a real LSP client: requests land in the ledger, `modelrouter.stats` sums them,
the hover links the entry, and "redo with a stronger model" is kept as a routing label."""

from __future__ import annotations

import pytest
from modelrouter.ledger import Ledger
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range_json

SOURCE = "def area(w, h):\n    pass\n"
BODY = "def area(w, h):\n    return w * h\n"

# The top tier is `architecture` (strong: $3/$15 per million); `cloud` costs $1/$4.
TIERS = {
    "locked-tier": ["locked"],
    "trivial": ["local", "cloud"],
    "feature": ["cloud", "strong"],
    "debug": ["strong"],
    "architecture": ["strong"],
}


async def test_requests_are_recorded_summed_linked_and_labelled(tmp_path, fake_provider):
    fake_provider.default("cloud", Reply(text=fenced(BODY), input_tokens=1000, output_tokens=500))
    fake_provider.default("strong", Reply(text=fenced(BODY), input_tokens=1200, output_tokens=400))
    async with editor_session(tmp_path, fake_provider, tiers=TIERS) as editor:
        uri = editor.open("geometry.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "implement", "uri": uri, "range": lines_range_json(0, 2)},
        )
        assert result["applied"] is True and result["backend"] == "cloud", result

        stats = await editor.execute("modelrouter.stats", {"since": "7d"})
        assert stats["requests"] == 1
        assert stats["spend_usd"] == pytest.approx((1000 * 1 + 500 * 4) / 1e6)
        assert stats["saved_usd"] == pytest.approx((1000 * 3 + 500 * 15 - 1000 - 500 * 4) / 1e6)
        assert [row["key"] for row in stats["by"]] == ["cloud"]

        hover = await editor.hover(uri, 1, 6)
        assert hover is not None
        assert "entry #1 (`modelrouter stats --id 1`)" in hover.contents.value

        redo = await editor.execute(
            "modelrouter.redo", {"uri": uri, "position": {"line": 1, "character": 6}}
        )
        assert redo["backend"] == "strong" and redo["tier"] == "debug", redo

    ledger = Ledger(tmp_path / "data" / "ledger.sqlite3")
    first, second = ledger.entries()
    assert (first.source, first.action, first.backend, first.tier) == (
        "lsp",
        "implement",
        "cloud",
        "feature",
    )
    assert first.prompt is None  # an ordinary request keeps no text
    assert (second.redo_of, second.backend, second.tier) == (first.id, "strong", "debug")
    ((text, tier, source),) = ledger.labels()
    assert (tier, source) == ("debug", "redo")
    assert "def area(w, h):" in text  # the original request, not the redo instruction
