"""The official OpenAI SDK against the proxy's chat-completions endpoint.

Tool calls answered by an Anthropic-wire backend come back as OpenAI `tool_calls`; `tool`
messages go back as `tool_result` blocks; usage, errors, the model list and the proxy's
safety limits are checked too.
"""

from __future__ import annotations

import httpx
import openai
import pytest
from support.fakes.provider import Reply
from support.proxy import proxy_rules, running_proxy

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def setup(fake_provider):
    rules = proxy_rules(fake_provider)
    with (
        running_proxy(rules) as proxy,
        openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-x", max_retries=0) as client,
    ):
        yield fake_provider, client, proxy


def test_non_streamed_completion_names_the_real_model(setup):
    fake, client, _ = setup
    fake.default("cheap", Reply(text="renamed"))
    raw = client.chat.completions.with_raw_response.create(
        model="modelrouter/auto", messages=[{"role": "user", "content": "rename foo to bar"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "renamed"
    assert completion.model == "cheap-model"
    assert completion.usage.prompt_tokens == 11
    assert raw.headers["x-modelrouter-backend"] == "cheap"


def test_streamed_tool_calls_from_an_anthropic_backend(setup):
    fake, client, _ = setup
    fake.reply(
        "claude",
        Reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Paris"})], chunk_size=3),
    )
    chunks = list(
        client.chat.completions.create(
            model="modelrouter/architecture",
            messages=[{"role": "user", "content": "what is the weather in Paris?"}],
            tools=[WEATHER],
            tool_choice="auto",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert text == "Let me check."
    assert calls[0].function.name == "get_weather" and calls[0].id
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"city": "Paris"}'
    assert finish == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    sent = fake.requests_to("claude")[0].body
    assert sent["tools"][0]["input_schema"]["required"] == ["city"]
    assert sent["tool_choice"] == {"type": "auto"}


def test_allowed_tools_sends_only_the_allowed_functions(setup):
    fake, client, _ = setup
    fake.default("claude", Reply(text="ok"))
    clock = {"type": "function", "function": {**WEATHER["function"], "name": "get_time"}}
    client.chat.completions.create(
        model="modelrouter/architecture",
        messages=[{"role": "user", "content": "time in Oslo?"}],
        tools=[WEATHER, clock],
        tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "auto",
                "tools": [{"type": "function", "function": {"name": "get_time"}}],
            },
        },
    )
    sent = fake.requests_to("claude")[0].body
    assert [t["name"] for t in sent["tools"]] == ["get_time"]
    assert sent["tool_choice"] == {"type": "auto"}


def test_tool_messages_go_back_as_tool_results(setup):
    fake, client, _ = setup
    fake.default("claude", Reply(text="It is sunny."))
    completion = client.chat.completions.create(
        model="modelrouter/architecture",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        ],
        tools=[WEATHER],
    )
    assert completion.choices[0].message.content == "It is sunny."
    sent = fake.requests_to("claude")[0]
    assert sent.rejected is None
    assistant, result = sent.body["messages"][1:]
    assert assistant["content"][0] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert result["content"][0]["type"] == "tool_result"
    assert result["content"][0]["tool_use_id"] == "call_1"


def test_gemini_backend_gets_a_schema_it_accepts(setup):
    fake, client, _ = setup
    fake.default("gem", Reply(text="", tool_calls=[("get_weather", {"city": "Oslo"})]))
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "city": {"type": "string", "default": "Oslo"},
                    "days": {"type": ["integer", "null"], "exclusiveMinimum": 0},
                },
                "required": ["city"],
            },
        },
    }
    completion = client.chat.completions.create(
        model="gem", messages=[{"role": "user", "content": "weather"}], tools=[tool]
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Oslo"}'
    assert completion.choices[0].finish_reason == "tool_calls"
    declared = fake.requests_to("gem")[0].body["tools"][0]["functionDeclarations"][0]
    assert declared["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "nullable": True, "minimum": 0},
        },
        "required": ["city"],
    }


def test_unknown_tier_model_is_a_400_listing_the_choices(setup):
    _fake, client, _ = setup
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="modelrouter/nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert "trivial" in str(caught.value)


def test_a_mid_stream_failure_is_an_error_chunk(setup):
    fake, client, _ = setup
    fake.default("cheap", Reply(text="abcdefghijklmnop", chunk_size=2, error_after=3))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model="modelrouter/trivial",
            messages=[{"role": "user", "content": "rename"}],
            stream=True,
        ):
            pass


def test_models_and_health(setup):
    _fake, client, proxy = setup
    names = [m.id for m in client.models.list()]
    assert names[:2] == ["modelrouter/auto", "modelrouter/trivial"]
    assert {"cheap", "claude", "gem"} <= set(names)
    health = httpx.get(f"{proxy.url}/healthz").json()
    assert health["service"] == "modelrouter"


def test_a_proxy_key_is_required_when_set(fake_provider):
    rules = proxy_rules(fake_provider)
    fake_provider.default("cheap", Reply(text="ok"))
    with running_proxy(rules, key="proxy-secret") as proxy:
        with (
            openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="wrong", max_retries=0) as bad,
            pytest.raises(openai.AuthenticationError),
        ):
            bad.chat.completions.create(
                model="modelrouter/trivial", messages=[{"role": "user", "content": "x"}]
            )
        with openai.OpenAI(
            base_url=f"{proxy.url}/v1", api_key="proxy-secret", max_retries=0
        ) as good:
            done = good.chat.completions.create(
                model="modelrouter/trivial", messages=[{"role": "user", "content": "x"}]
            )
        assert done.choices[0].message.content == "ok"
        assert fake_provider.requests_to("cheap")[0].headers.get("authorization") is None


def test_oversized_bodies_get_413_and_no_cors(fake_provider):
    from dataclasses import replace

    rules = proxy_rules(fake_provider)
    rules = replace(rules, proxy=replace(rules.proxy, max_request_bytes=2000))
    with running_proxy(rules) as proxy:
        big = {"model": "x", "messages": [{"role": "user", "content": "y" * 5000}]}
        reply = httpx.post(
            f"{proxy.url}/v1/chat/completions", json=big, headers={"origin": "http://evil.test"}
        )
    assert reply.status_code == 413
    assert "max_request_bytes" in reply.json()["error"]["message"]
    assert not any(h.startswith("access-control-") for h in reply.headers)
