"""The routing policy the editor's requests follow, owned by `modelrouter.routing`: which
model-written code a new action follows up on, which edits are trivial (held to the size of
the code), and how much context the chosen backend can take."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelrouter.config import BackendConfig
from modelrouter.positions import Pos
from modelrouter.provenance import Record
from modelrouter.routing.decide import is_trivial_edit
from modelrouter.routing.plan import Plan
from modelrouter.routing.sticky import Prior, editor_follow_up
from modelrouter.rules import default_rules_path, load_rules


@pytest.fixture(scope="module")
def rules():
    return load_rules(default_rules_path())


def _record(transcript: list[dict]) -> Record:
    return Record(
        "r1", Pos(0, 0), Pos(1, 0), "fast", "m-1", "feature", "why", "implement",
        transcript=transcript,
    )  # fmt: skip


def test_a_rewrite_on_model_written_code_follows_the_answer_that_wrote_it():
    record = _record([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}])
    assert editor_follow_up("rewrite", record) == Prior("feature", "fast", "m-1")


@pytest.mark.parametrize("kind", ["tests", "design", "answer"])
def test_other_action_kinds_start_afresh(kind):
    assert editor_follow_up(kind, _record([{"role": "user", "content": "x"}])) is None


def test_no_record_or_no_kept_conversation_is_no_follow_up():
    assert editor_follow_up("rewrite", None) is None
    assert editor_follow_up("rewrite", _record([])) is None


def test_an_edit_is_trivial_when_its_action_or_its_route_is_the_cheapest_tier(rules):
    cheapest, *others = rules.tier_order
    auto = next(a for a in rules.actions.values() if a.tier == "auto")
    assert is_trivial_edit(rules, auto, cheapest)
    assert not any(is_trivial_edit(rules, auto, t) for t in others)
    pinned = dataclasses.replace(auto, tier=cheapest)
    assert all(is_trivial_edit(rules, pinned, t) for t in rules.tier_order)
    upper = dataclasses.replace(auto, tier=others[0])
    assert not is_trivial_edit(rules, upper, cheapest)


def test_a_tier_no_longer_in_the_rules_is_not_trivial(rules):
    auto = next(a for a in rules.actions.values() if a.tier == "auto")
    assert not is_trivial_edit(rules, auto, "gone")
    assert not is_trivial_edit(rules, dataclasses.replace(auto, tier="gone"), "gone")


@given(
    window=st.integers(0, 2_000_000),
    reply=st.integers(0, 200_000),
    overhead=st.integers(0, 10_000),
    floor=st.integers(1, 4096),
)
def test_the_context_budget_is_what_the_window_leaves_and_never_below_the_floor(
    window, reply, overhead, floor
):
    backend = BackendConfig(name="b", type="openai", context_window=window, max_output_tokens=reply)
    budget = Plan("t", [backend]).context_budget(overhead, floor=floor)
    assert budget == max(window - reply - overhead, floor)


def test_a_plan_with_no_backend_budgets_the_floor():
    assert Plan("t", []).context_budget(600) == 256
