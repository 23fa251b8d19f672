"""One neutral transcript, translated per provider and trimmed to a context window."""

from __future__ import annotations

import pytest
from modelrouter.backends.base import Message
from modelrouter.transcript import (
    ContextTooSmall,
    to_anthropic,
    to_gemini,
    to_openai,
    to_prompt,
    trim,
)

TALK = [
    Message("system", "Be exact."),
    Message("user", "first"),
    Message("user", "second part of the same turn"),
    Message("assistant", "reply", model="gemma3:27b", backend="local"),
    Message("user", "follow-up"),
]


def test_openai_keeps_roles_and_the_system_turn():
    assert to_openai(TALK)[0] == {"role": "system", "content": "Be exact."}
    assert [m["role"] for m in to_openai(TALK)] == ["system", "user", "user", "assistant", "user"]


def test_anthropic_system_is_top_level_and_same_role_turns_merge():
    system, messages = to_anthropic(TALK)
    assert system == "Be exact."
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "first\n\nsecond part of the same turn"}
    ]


def test_gemini_alternates_user_and_model_roles():
    system, contents = to_gemini(TALK)
    assert system == "Be exact."
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [{"text": "reply"}]


def test_cli_prompt_labels_speakers_in_a_conversation():
    prompt = to_prompt(TALK)
    assert prompt.startswith("Be exact.\n\nUser:\nfirst")
    assert "Assistant:\nreply" in prompt
    assert to_prompt([Message("user", "only this")]) == "only this"


def test_trim_keeps_system_and_newest_turns_starting_with_a_user_turn():
    long = [Message("system", "S")]
    for i in range(20):
        long += [Message("user", f"u{i} " + "x" * 80), Message("assistant", f"a{i} " + "y" * 80)]
    long.append(Message("user", "latest"))
    kept = trim(long, context_window=300, reserve=50)
    assert kept[0].content == "S"
    assert kept[1].role == "user"
    assert kept[-1].content == "latest"
    assert len(kept) < len(long)


def test_trim_raises_when_even_the_newest_turn_cannot_fit():
    with pytest.raises(ContextTooSmall, match="context window is 100"):
        trim([Message("user", "z" * 2000)], context_window=100, reserve=20)
