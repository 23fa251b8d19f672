"""The fake provider's OpenAI format is the real one: the official SDK reads it."""

from __future__ import annotations

import pytest
from support.fakes.provider import Reply


def _client(fake_provider):
    from openai import OpenAI

    return OpenAI(
        base_url=fake_provider.base_url("openai", "sdk"), api_key="sk-test-123", max_retries=0
    )


def test_openai_sdk_streams_text_and_usage_from_the_fake(fake_provider):
    fake_provider.default(
        "sdk",
        Reply(
            text="def add(a, b):\n    return a + b\n",
            chunk_size=5,
            input_tokens=21,
            output_tokens=13,
        ),
    )
    stream = _client(fake_provider).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "write add"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    assert text == "def add(a, b):\n    return a + b\n"
    assert finish == "stop"
    assert (usage.prompt_tokens, usage.completion_tokens) == (21, 13)
    request = fake_provider.requests_to("sdk")[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-123"


def test_openai_sdk_reads_a_non_streamed_completion(fake_provider):
    fake_provider.default("sdk", Reply(text="All good.", input_tokens=4, output_tokens=3))
    reply = _client(fake_provider).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "All good."
    assert reply.model == "gpt-test"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 3)


def test_openai_sdk_sees_rate_limit_errors_from_the_fake(fake_provider):
    import openai

    fake_provider.default("sdk", Reply(status=429, headers={"retry-after": "7"}))
    with pytest.raises(openai.RateLimitError) as info:
        _client(fake_provider).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.response.headers["retry-after"] == "7"
    assert "Rate limit exceeded" in str(info.value)
