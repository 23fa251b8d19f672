"""The fake provider's Anthropic format is the real one: the official SDK reads it."""

from __future__ import annotations

import pytest
from support.fakes.provider import Reply


def _client(fake_provider):
    from anthropic import Anthropic

    return Anthropic(
        base_url=fake_provider.base_url("anthropic", "sdk"), api_key="sk-ant-test", max_retries=0
    )


def test_anthropic_sdk_streams_text_and_usage_from_the_fake(fake_provider):
    fake_provider.default(
        "sdk",
        Reply(text="Use a dict for O(1) lookups.", chunk_size=4, input_tokens=30, output_tokens=8),
    )
    with _client(fake_provider).messages.stream(
        model="claude-test",
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": "speed this up"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Use a dict for O(1) lookups."
    assert final.model == "claude-test"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 8)
    request = fake_provider.requests_to("sdk")[0]
    assert request.path == "/v1/messages"
    # SDK versions differ in where they put the key (x-api-key or a bearer token).
    sent = request.headers.get("x-api-key") or request.headers["authorization"]
    assert sent.removeprefix("Bearer ") == "sk-ant-test"
    assert request.headers["anthropic-version"]
    assert request.body["system"] == "You are terse."


def test_anthropic_sdk_reads_a_non_streamed_message(fake_provider):
    fake_provider.default("sdk", Reply(text="Done.", input_tokens=9, output_tokens=2))
    message = _client(fake_provider).messages.create(
        model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "go"}]
    )
    assert message.content[0].text == "Done."
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 2)


def test_anthropic_sdk_raises_on_the_fakes_mid_stream_error_event(fake_provider):
    import anthropic

    fake_provider.default("sdk", Reply(text="partial answer text", chunk_size=4, error_after=2))
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        _client(fake_provider).messages.stream(
            model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "go"}]
        ) as stream,
    ):
        for _ in stream.text_stream:
            pass
    assert "overloaded" in str(info.value).lower()


def test_anthropic_sdk_sees_529_overloaded_from_the_fake(fake_provider):
    import anthropic

    fake_provider.default("sdk", Reply(status=529))
    with pytest.raises(anthropic.APIStatusError) as info:
        _client(fake_provider).messages.create(
            model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "go"}]
        )
    assert info.value.status_code == 529
