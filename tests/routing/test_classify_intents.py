"""Requests that ask for what an editor action does go to that action's tier, unless
something in them says otherwise."""

from __future__ import annotations

from dataclasses import replace

import pytest
from modelrouter.classify import classify
from modelrouter.intents import recognise
from modelrouter.rules import default_rules_path, load_rules


@pytest.fixture(scope="module")
def shipped():
    return load_rules(default_rules_path())


@pytest.fixture(autouse=True)
def no_personal_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELROUTER_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("explain this regex", "explain"),
        ("What does this function do?", "explain"),
        ("how does this loop work", "explain"),
        ("describe what the selected code is for", "explain"),
        ("refactor this class into smaller functions", "refactor"),
        ("Simplify this method", "refactor"),
        ("Encapsulate the functions into a class Solver.", "refactor"),
        ("Change the function so that it rescales the numbers to [-2, 2]", "implement"),
        ("Make it a generator.", "implement"),
        ("Add a parameter to this function that sets the separator", "implement"),
        # Only code returns things: "return …" is about code in front of the user.
        ("Return the last string that satisfies the condition.", "implement"),
        ("Return the sum of the even numbers in the list", "implement"),
    ],
)
def test_action_requests_take_the_actions_tier(shipped, text, action):
    assert recognise(text).action == action
    result = classify(shipped, text)
    assert result.source == "action"
    assert result.tier == shipped.actions[action].tier
    assert shipped.actions[action].title in result.reason


@pytest.mark.parametrize(
    "text",
    [
        "why does this function crash on empty input?",  # a defect
        "explain why this test fails",  # a failing test
        "refactor this class to fix the race",  # a defect
        "make this function faster",  # performance
        "refactor the storage layer across all modules",  # wide
        "split these modules into separate services",  # design-scale
        "how should the cache stay consistent across replicas?",  # distributed
        "Change the function to use a thread pool",  # concurrency
        "fix typo in this function's docstring",  # cheaper
        "Add Cursor type and rewrite Executor over it",  # no code in front of the user
        "Return 0 instead of crashing on an empty list",  # a defect
        "Return the right status code from every service",  # several services
    ],
)
def test_contradicting_evidence_leaves_the_request_to_the_classifier(shipped, text):
    assert recognise(text) is None or classify(shipped, text).source != "action"


def test_the_tier_follows_the_rules_action(shipped):
    dearer = replace(
        shipped,
        actions={
            **shipped.actions,
            "explain": replace(shipped.actions["explain"], tier="feature"),
        },
    )
    assert classify(dearer, "explain this regex").tier == "feature"
    without = replace(shipped, actions={k: v for k, v in shipped.actions.items() if k != "explain"})
    assert classify(without, "explain this regex").source != "action"
