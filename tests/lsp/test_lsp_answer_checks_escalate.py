"""Checks on every answer through the language server: a cheap answer that fails a check is
re-asked one tier up with the failure stated, the passing answer is applied and the hover
lists every attempt; when none passes, nothing is applied, the message says why, and "Redo
with a stronger model" on the selection re-runs it one tier up."""

from __future__ import annotations

import pytest
from modelrouter.ledger import Ledger
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range

SOURCE = "import math\n\n\ndef circle(r):\n    # area of teh circle\n    return math.pi * r * r\n"
RANGE = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
FIX = "# area of the circle\nreturn math.pi * r * r\n"
FIXED_SOURCE = SOURCE.replace("teh", "the")
# Wrong answers, one of each kind the checks catch.
UNCHANGED = "# area of teh circle\nreturn math.pi * r * r\n"
RESPACED = "# area  of teh circle\nreturn math.pi*r*r\n"
BROKEN = "# area of the circle\nreturn math.pi * (r * r\n"
OVERREACH = "# area of the circle\nreturn math.pi * r ** 2\n"
UNDEFINED = "# area of the circle\nreturn math.tau * radius * r / 2\n"
# Tiers with room for several escalations, each backend its own fake route.
LADDER = {
    "trivial": ["local"],
    "feature": ["cloud"],
    "debug": ["strong"],
    "architecture": ["strong"],
    "locked-tier": ["locked"],
}


async def _run(editor, uri, action="fix-typo", rng=RANGE):
    return await editor.execute("modelrouter.run", {"action": action, "uri": uri, "range": rng})


@pytest.mark.parametrize(
    ("wrong", "check", "said"),
    [
        (UNCHANGED, "unchanged", "did not change the selection"),
        (RESPACED, "unchanged", "changed only whitespace"),
        (BROKEN, "syntax", "does not parse"),
        (OVERREACH, "scope", "changed more than a typo fix"),
    ],
)
async def test_a_failed_cheap_answer_is_re_asked_one_tier_up(
    tmp_path, fake_provider, wrong, check, said
):
    fake_provider.default("local", Reply(text=fenced(wrong)))
    fake_provider.default("cloud", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider, tiers=LADDER, scope_checked=True) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _run(editor, uri)
        assert result["applied"] is True, result
        assert result["backend"] == "cloud" and result["tier"] == "feature"
        assert editor.text(uri) == FIXED_SOURCE
        # The stronger model saw the failed answer and what was wrong with it.
        sent = fake_provider.requests_to("cloud")[0].body["messages"]
        assert said in sent[-1]["content"]
        assert wrong.splitlines()[1].strip() in sent[-2]["content"]
        hover = (await editor.hover(uri, 5, 4)).contents.value
        assert "Escalated:" in hover and "tiny-local" in hover
        first = next(ln for ln in hover.splitlines() if ln.strip().startswith("1."))
        assert "`tiny-local` via `local` (tier trivial, $0.0000)" in first
        assert f"{check} failed" in first
        assert "`cloud-mid` via `cloud` (tier feature" in hover and "syntax passed" in hover
    # The ledger has the failed check on the first answer and why the second was asked.
    failed, re_ask = Ledger(tmp_path / "data" / "ledger.sqlite3").entries()
    assert failed.check_failed == check and failed.backend == "local"
    assert re_ask.escalation.startswith(f"{check}: ") and re_ask.redo_of == failed.id


async def test_every_wrong_answer_escalates_in_turn_and_the_hover_lists_them_all(
    tmp_path, fake_provider
):
    fake_provider.default("local", Reply(text=fenced(BROKEN)))
    fake_provider.default("cloud", Reply(text=fenced(UNCHANGED)))
    fake_provider.reply("strong", Reply(text=fenced(OVERREACH)), Reply(text=fenced(FIX)))
    extra = {"escalation": {"max_steps": 3}}
    async with editor_session(
        tmp_path, fake_provider, tiers=LADDER, extra=extra, scope_checked=True
    ) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _run(editor, uri)
        assert result["applied"] is True and result["tier"] == "architecture", result
        assert editor.text(uri) == FIXED_SOURCE
        hover = (await editor.hover(uri, 5, 4)).contents.value
        lines = [
            ln.strip() for ln in hover.splitlines() if ln.strip()[:2] in ("1.", "2.", "3.", "4.")
        ]
        assert len(lines) == 4
        assert "tier trivial" in lines[0] and "syntax failed" in lines[0]
        assert "tier feature" in lines[1] and "unchanged failed" in lines[1]
        assert "tier debug" in lines[2] and "scope failed" in lines[2]
        assert "tier architecture" in lines[3] and "failed" not in lines[3]
        assert "ruff passed" in lines[3]


async def test_a_new_undefined_name_is_caught_by_ruff(tmp_path, fake_provider):
    # Implementing is no trivial edit (no scope check): ruff is the one to see it.
    fake_provider.default("cloud", Reply(text=fenced(UNDEFINED)))
    fake_provider.default("strong", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider, tiers=LADDER, scope_checked=True) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _run(editor, uri, action="implement")
        assert result["applied"] is True and result["tier"] == "debug", result
        told = fake_provider.requests_to("strong")[0].body["messages"][-1]["content"]
        assert "F821" in str(told) and "radius" in str(told)
        hover = (await editor.hover(uri, 5, 4)).contents.value
        assert "ruff failed (added a lint error (F821" in hover


async def test_when_no_answer_passes_nothing_is_applied_and_redo_goes_a_tier_up(
    tmp_path, fake_provider
):
    fake_provider.default("local", Reply(text=fenced(UNCHANGED)))
    fake_provider.default("cloud", Reply(text=fenced(OVERREACH)))
    fake_provider.default("strong", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider, tiers=LADDER, scope_checked=True) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _run(editor, uri)
        assert result["applied"] is False and editor.text(uri) == SOURCE
        message = result["message"]
        assert "nothing was applied" in message and "cloud-mid" in message
        assert "changed more than a typo fix" in message
        assert "Redo with a stronger model to try tier debug" in message
        assert await editor.hover(uri, 5, 4) is None  # no provenance for what was not applied
        # The redo is offered on the selection, and runs the request one tier up.
        actions = await editor.code_actions(uri, lines_range(4, 6))
        assert any(a.title.startswith("Redo with a stronger model") for a in actions)
        redo = await editor.execute("modelrouter.redo", {"uri": uri, "position": RANGE["start"]})
        assert redo["applied"] is True and redo["tier"] == "debug", redo
        assert editor.text(uri) == FIXED_SOURCE
        sent = fake_provider.requests_to("strong")[-1].body["messages"]
        assert "not applied" in str(sent[-1]["content"])


async def test_a_re_ask_that_cannot_run_ends_the_escalation(tmp_path, fake_provider):
    for route in ("local", "cloud", "strong"):
        fake_provider.default(route, Reply(text=fenced(UNCHANGED)))
    extra = {"escalation": {"max_steps": 5}}
    async with editor_session(
        tmp_path, fake_provider, tiers=LADDER, extra=extra, scope_checked=True
    ) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _run(editor, uri)
        assert result["applied"] is False and editor.text(uri) == SOURCE
        # The tier above the last one has no usable backend: the answers so far stand.
        message = result["message"]
        assert "strong-coder's answer did not change the selection" in message
        assert "asking tier locked-tier failed" in message
        assert len(fake_provider.requests_to("strong")) == 2  # debug, then architecture


async def test_the_top_tier_failing_says_there_is_no_stronger_model(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(UNCHANGED)))
    fake_provider.default("cloud", Reply(text=fenced(UNCHANGED)))
    only = {
        "actions": {"fix-typo": {"title": "Fix typo", "tier": "trivial", "prompt": "Fix typos."}}
    }
    tiers = {"trivial": ["local"], "feature": ["cloud"]}
    async with editor_session(tmp_path, fake_provider, tiers=tiers, extra=only) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _run(editor, uri)
        assert result["applied"] is False
        assert result["message"].endswith(
            "cloud-mid's answer did not change the selection (tier feature is the top tier)"
        )


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
