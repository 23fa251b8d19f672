"""The official Anthropic SDK against the proxy, the fake provider behind it.

Requests are routed by the latest human turn; tool calls cross wire formats both ways;
faults before the first token are invisible, after it they are proper error events.
"""

from __future__ import annotations

import json

import anthropic
import pytest
from support.fakes.provider import Reply
from support.proxy import proxy_rules, running_proxy

READ_TOOL = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"file_path": {"type": "string"}},
        "required": ["file_path"],
        "additionalProperties": False,
    },
}


@pytest.fixture
def setup(fake_provider):
    rules = proxy_rules(fake_provider)
    with (
        running_proxy(rules) as proxy,
        anthropic.Anthropic(base_url=proxy.url, api_key="sk-test", max_retries=0) as client,
    ):
        yield fake_provider, client


def test_a_typo_fix_goes_to_the_cheap_backend_and_says_so(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="Fixed the typo."))
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=16000,
        system=[{"type": "text", "text": "You are Claude Code."}],
        messages=[{"role": "user", "content": "fix the typo in g.py"}],
    )
    message = raw.parse()
    assert message.content[0].text == "Fixed the typo."
    assert message.model == "cheap-model"
    assert raw.headers["x-modelrouter-backend"] == "cheap"
    assert raw.headers["x-modelrouter-tier"] == "trivial"
    assert "fix the typo" not in raw.headers["x-modelrouter-reason"]
    sent = fake.requests_to("cheap")[0]
    assert sent.wire == "openai"
    assert sent.body["messages"][0] == {"role": "system", "content": "You are Claude Code."}


def test_a_streamed_design_question_reaches_the_anthropic_backend(setup):
    fake, client = setup
    fake.default("claude", Reply(text="Here is a design with three layers.", chunk_size=5))
    with client.messages.stream(
        model="modelrouter/auto",
        max_tokens=1024,
        messages=[{"role": "user", "content": "design the storage architecture"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Here is a design with three layers."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert len(fake.requests_to("claude")) == 1


def test_system_reminders_and_tool_results_are_not_classified(setup):
    fake, client = setup
    fake.default("claude", Reply(text="design answer"))
    fake.default("cheap", Reply(text="typo answer"))
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>fix every typo</system-reminder>"},
                    {"type": "text", "text": "design a plugin system"},
                ],
            }
        ],
    )
    assert message.content[0].text == "design answer"


def test_tool_calls_cross_to_an_openai_backend_and_the_task_stays_there(setup):
    fake, client = setup
    fake.reply(
        "cheap",
        Reply(text="Reading it.", tool_calls=[("Read", {"file_path": "g.py"})], chunk_size=4),
        Reply(text="Done."),
    )
    headers = {"x-claude-code-session-id": "s-1"}
    ask = {"role": "user", "content": "fix the typo in g.py"}
    with client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=2000,
        tools=[READ_TOOL],
        messages=[ask],
        extra_headers=headers,
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "Read" and call.input == {"file_path": "g.py"}
    # The tool result turn: no human text, so it stays on the task's backend even though
    # an empty turn would classify to the default (architecture) tier.
    second = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=2000,
        tools=[READ_TOOL],
        messages=[
            ask,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "prnt('hi')"}
                ],
            },
        ],
        extra_headers=headers,
    )
    assert second.content[0].text == "Done."
    sent = fake.requests_to("cheap")[1]
    assert sent.rejected is None
    roles = [m["role"] for m in sent.body["messages"]]
    assert roles == ["user", "assistant", "tool"]
    assert sent.body["messages"][1]["tool_calls"][0]["function"]["name"] == "Read"
    assert sent.body["messages"][2] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "prnt('hi')",
    }
    assert sent.body["tools"][0]["function"]["parameters"]["required"] == ["file_path"]
    assert fake.requests_to("claude") == []


def test_a_tool_result_that_answers_no_call_is_a_400(setup):
    fake, client = setup
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="modelrouter/trivial",
            max_tokens=100,
            messages=[
                {"role": "user", "content": "fix the typo"},
                {"role": "assistant", "content": "ok"},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "x"}],
                },
            ],
        )
    assert "tool" in str(caught.value)
    assert fake.requests_to("cheap")[0].rejected


def test_fallback_before_the_first_token_is_invisible(setup):
    fake, client = setup
    fake.default("cheap", Reply(status=503))
    fake.default("spare", Reply(text="answer from the spare backend"))
    raw = client.messages.with_raw_response.create(
        model="modelrouter/trivial",
        max_tokens=100,
        stream=True,
        messages=[{"role": "user", "content": "rename x to y"}],
    )
    assert raw.headers["x-modelrouter-backend"] == "spare"
    text = "".join(
        e.delta.text
        for e in raw.parse()
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "answer from the spare backend"


def test_a_failure_after_bytes_ends_the_stream_with_an_error_event(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="partial answer that breaks", chunk_size=4, cut_after=2))
    fake.default("spare", Reply(text="should never be spliced on"))
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(
            model="modelrouter/trivial",
            max_tokens=100,
            messages=[{"role": "user", "content": "rename x"}],
        ) as stream,
    ):
        for _ in stream.text_stream:
            pass
    assert "part-way" in str(caught.value)


def test_every_backend_failing_is_an_http_error_the_sdk_understands(setup):
    fake, client = setup
    fake.default("cheap", Reply(status=429, headers={"retry-after": "60"}))
    fake.default("spare", Reply(status=429, headers={"retry-after": "60"}))
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(
            model="modelrouter/trivial",
            max_tokens=10,
            messages=[{"role": "user", "content": "rename"}],
        )


def test_anthropic_to_anthropic_forwards_the_body_as_is(setup):
    fake, client = setup
    fake.default("claude", Reply(text="cached"))
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        metadata={"user_id": "u1"},
        messages=[{"role": "user", "content": "design a cache"}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    sent = fake.requests_to("claude")[0]
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent.body["metadata"] == {"user_id": "u1"}
    assert sent.body["model"] == "claude-model"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert "sk-test" not in json.dumps(sent.headers)


def test_overrides_pick_the_backend_and_are_stripped(setup):
    fake, client = setup
    fake.default("gem", Reply(text="from gemini"))
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "[use:gem] design a queue"}],
    )
    assert message.content[0].text == "from gemini"
    contents = fake.requests_to("gem")[0].body["contents"]
    assert contents[-1]["parts"][0]["text"] == "design a queue"


def test_haiku_model_names_go_to_the_cheapest_tier(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="A title"))
    message = client.messages.create(
        model="claude-haiku-4-5-20251001",
        max_tokens=50,
        messages=[{"role": "user", "content": "design the whole system architecture"}],
    )
    assert message.content[0].text == "A title"


def test_count_tokens_is_an_estimate_and_says_so(setup):
    _fake, client = setup
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hello " * 100}]
    )
    assert raw.parse().input_tokens > 50
    assert raw.headers["x-modelrouter-estimate"] == "true"
