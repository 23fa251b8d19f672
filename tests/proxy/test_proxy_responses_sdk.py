"""The official OpenAI SDK's `responses.create` against the proxy's Responses endpoint.

Text and function calls come back as Responses output items, streamed with the events
OpenAI sends (numbered, items opened and closed); `function_call` / `function_call_output`
input items reach each backend wire as its own tool calls and results; developer messages
become the system prompt, reasoning items and hosted tools are dropped; server-side state
(`store`, `previous_response_id`) is refused; a failure after bytes are out is a
`response.failed` event.
"""

from __future__ import annotations

import openai
import pytest
from support.fakes.provider import Reply
from support.proxy import proxy_rules, running_proxy

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": False,
}


@pytest.fixture
def setup(fake_provider):
    rules = proxy_rules(fake_provider)
    with (
        running_proxy(rules) as proxy,
        openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-x", max_retries=0) as client,
    ):
        yield fake_provider, client


def test_non_streamed_response_names_the_real_model(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="renamed"))
    raw = client.responses.with_raw_response.create(
        model="modelrouter/auto", input="rename foo to bar", instructions="Be brief."
    )
    response = raw.parse()
    assert response.output_text == "renamed"
    assert response.status == "completed"
    assert response.model == "cheap-model"
    assert response.usage.input_tokens == 11
    assert response.usage.total_tokens == 11 + response.usage.output_tokens
    assert raw.headers["x-modelrouter-backend"] == "cheap"
    sent = fake.requests_to("cheap")[0].body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1]["content"] == "rename foo to bar"


def test_streamed_text_is_numbered_events_in_openai_order(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="renamed it all", chunk_size=3))
    events = list(
        client.responses.create(model="modelrouter/trivial", input="rename x", stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == "renamed it all"
    final = events[-1].response
    assert final.output_text == "renamed it all"
    assert final.usage is not None and final.usage.output_tokens > 0
    assert {e.item_id for e in events if hasattr(e, "item_id")} == {final.output[0].id}


def test_streamed_function_call_from_an_anthropic_backend(setup):
    fake, client = setup
    fake.reply(
        "claude",
        Reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Paris"})], chunk_size=3),
    )
    events = list(
        client.responses.create(
            model="modelrouter/architecture",
            input="what is the weather in Paris?",
            tools=[WEATHER, {"type": "web_search"}],
            tool_choice="auto",
            parallel_tool_calls=False,
            stream=True,
        )
    )
    args = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert "".join(args) == '{"city": "Paris"}' == done[0].arguments
    final = events[-1]
    assert final.type == "response.completed"
    message, call = final.response.output
    assert message.type == "message" and message.content[0].text == "Let me check."
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id
    assert call.arguments == '{"city": "Paris"}'
    added = [e.output_index for e in events if e.type == "response.output_item.added"]
    assert added == [0, 1]
    sent = fake.requests_to("claude")[0].body
    assert [t["name"] for t in sent["tools"]] == ["get_weather"]  # web_search is hosted: dropped
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


CLOCK = {**WEATHER, "name": "get_time", "description": "Time in a city"}


def test_allowed_tools_sends_only_the_allowed_functions(setup):
    fake, client = setup
    fake.default("claude", Reply(text="It is noon.", tool_calls=[("get_time", {"city": "Oslo"})]))
    response = client.responses.create(
        model="modelrouter/architecture",
        input="what time is it in Oslo?",
        tools=[WEATHER, CLOCK],
        tool_choice={
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_time"}],
        },
    )
    assert response.output[-1].name == "get_time"
    sent = fake.requests_to("claude")[0].body
    assert [t["name"] for t in sent["tools"]] == ["get_time"]
    assert sent["tool_choice"]["type"] == "any"


@pytest.mark.parametrize(
    "choice",
    [
        {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "nope"}]},
        {"type": "allowed_tools", "mode": "sometimes", "tools": []},
        {"type": "allowed_tools", "mode": "auto", "tools": "get_time"},
    ],
)
def test_allowed_tools_that_allow_nothing_usable_is_a_400_naming_it(setup, choice):
    fake, client = setup
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="modelrouter/architecture", input="hi", tools=[WEATHER], tool_choice=choice
        )
    assert "allowed_tools" in str(info.value)
    assert fake.requests_to("claude") == []


def test_function_call_outputs_go_back_as_tool_results(setup):
    fake, client = setup
    fake.default("claude", Reply(text="It is sunny."))
    response = client.responses.create(
        model="modelrouter/architecture",
        input=[
            {"role": "developer", "content": "You answer about weather."},
            {"role": "user", "content": [{"type": "input_text", "text": "weather in Paris?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"},
        ],
        tools=[WEATHER],
        store=False,
    )
    assert response.output_text == "It is sunny."
    sent = fake.requests_to("claude")[0]
    assert sent.rejected is None
    assert sent.body["system"] == "You answer about weather."
    user, assistant, result = sent.body["messages"]
    assert user["role"] == "user"
    assert assistant["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert result["content"][0]["type"] == "tool_result"
    assert result["content"][0]["tool_use_id"] == "call_1"


def test_an_openai_wire_backend_gets_tool_messages(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="Renamed."))
    client.responses.create(
        model="cheap",
        input=[
            {"role": "user", "content": "rename a to b"},
            {"type": "function_call", "call_id": "c1", "name": "sh", "arguments": '{"cmd":"ls"}'},
            {"type": "function_call", "call_id": "c2", "name": "sh", "arguments": '{"cmd":"pwd"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "a.py"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "/src"}],
            },
        ],
    )
    messages = fake.requests_to("cheap")[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c1", "c2"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [
        ("c1", "a.py"),
        ("c2", "/src"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("store", True, "store"),
        ("previous_response_id", "resp_123", "previous_response_id"),
    ],
)
def test_server_side_state_is_refused_with_a_400(setup, field, value, named):
    fake, client = setup
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="modelrouter/auto", input="rename x", **{field: value})
    assert named in str(caught.value)
    assert fake.requests == []


def test_a_mid_stream_failure_is_a_failed_response(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="abcdefghijklmnop", chunk_size=2, error_after=3))
    events = list(client.responses.create(model="modelrouter/trivial", input="rename", stream=True))
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.status == "failed"
    assert "failed part-way" in events[-1].response.error.message
    assert not any(e.type == "response.completed" for e in events)


def test_the_output_limit_makes_an_incomplete_response(setup):
    fake, client = setup
    fake.default("cheap", Reply(text="a long answer", stop="max_tokens"))
    response = client.responses.create(
        model="modelrouter/trivial", input="rename", max_output_tokens=5
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert fake.requests_to("cheap")[0].body["max_tokens"] == 5


@pytest.mark.parametrize(
    "name", ["cheap", "spare", "gem", "claude"]
)  # openai, ollama, gemini, anthropic
def test_a_call_and_its_result_round_trip_through_every_backend_wire(setup, name):
    fake, client = setup
    fake.reply(name, Reply(text="", tool_calls=[("get_weather", {"city": "Oslo"})], chunk_size=4))
    fake.reply(name, Reply(text="Snow in Oslo."))
    events = list(
        client.responses.create(model=name, input="weather in Oslo?", tools=[WEATHER], stream=True)
    )
    (call,) = [o for o in events[-1].response.output if o.type == "function_call"]
    assert (call.name, call.arguments) == ("get_weather", '{"city": "Oslo"}')
    answer = client.responses.create(
        model=name,
        input=[
            {"role": "user", "content": "weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "snow, -3 C"},
        ],
        tools=[WEATHER],
    )
    assert answer.output_text == "Snow in Oslo."
    first, second = fake.requests_to(name)
    assert first.rejected is None and second.rejected is None
    assert "get_weather" in str(first.body["tools"])
    # The result reached the backend in its own wire's shape, next to the call it answers.
    assert "snow, -3 C" in str(second.body) and "Oslo" in str(second.body)
