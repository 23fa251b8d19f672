"""Each HTTP adapter against the fake provider: text intact, usage right, request well-formed."""

from __future__ import annotations

import httpx
import pytest
from modelrouter.backends import make_backend
from modelrouter.backends.base import Message, StreamDone, TextDelta
from support import upstream
from support.fakes.provider import Reply
from support.fakes.rules import backend

pytestmark = pytest.mark.usefixtures("upstream_transport")
WIRES = ["openai", "anthropic", "gemini", "ollama"]
ANSWER = "Here is the fix:\n```python\nprint('héllo, wörld')  # ünïcode ✓\n```\n"
CONVERSATION = [
    Message("system", "You are a careful programmer."),
    Message("user", "What does this do?"),
    Message("assistant", "It prints a greeting.", model="m0", backend="b0"),
    Message("user", "Make it louder."),
]


async def _collect(cfg, messages=CONVERSATION):
    async with upstream.client() as client:
        events = [e async for e in make_backend(cfg, client).stream(messages)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert isinstance(events[-1], StreamDone)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return "".join(d.text for d in deltas), len(deltas), events[-1]


@pytest.mark.parametrize("wire", WIRES)
async def test_streamed_text_arrives_intact_with_provider_usage(fake_provider, wire):
    fake_provider.default(
        wire,
        Reply(
            text=ANSWER,
            chunk_size=3,
            input_tokens=57,
            output_tokens=19,
            model=f"{wire}-served-model",
        ),
    )
    cfg = backend(wire, wire, fake_provider.base_url(wire, wire))
    text, deltas, done = await _collect(cfg)
    assert text == ANSWER
    assert deltas > 1  # it really streamed
    assert (done.usage.input_tokens, done.usage.output_tokens) == (57, 19)
    assert not done.usage.estimated
    assert done.model == f"{wire}-served-model"


@pytest.mark.parametrize("wire", WIRES)
async def test_usage_is_estimated_and_flagged_when_the_provider_gives_none(fake_provider, wire):
    fake_provider.default(wire, Reply(text="x" * 400, usage=False))
    cfg = backend(wire, wire, fake_provider.base_url(wire, wire))
    text, _, done = await _collect(cfg)
    assert text == "x" * 400
    assert done.usage.estimated
    assert done.usage.output_tokens == 100  # ~4 characters per token
    assert done.usage.input_tokens > 0


async def test_openai_request_streams_with_usage_and_carries_key_and_extra_headers(
    fake_provider, monkeypatch
):
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-live-abc")
    cfg = backend(
        "oa",
        "openai",
        fake_provider.base_url("openai", "oa"),
        api_key_env="TEST_OPENAI_KEY",
        headers={"HTTP-Referer": "https://example.org", "X-Title": "ModelRouter"},
        temperature=0.2,
        max_output_tokens=321,
    )
    await _collect(cfg)
    req = fake_provider.requests_to("oa")[0]
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-live-abc"
    assert req.headers["http-referer"] == "https://example.org"
    assert req.headers["x-title"] == "ModelRouter"
    assert req.body["stream"] is True
    assert req.body["stream_options"] == {"include_usage": True}
    assert req.body["max_tokens"] == 321
    assert req.body["temperature"] == 0.2
    assert [m["role"] for m in req.body["messages"]] == ["system", "user", "assistant", "user"]


async def test_openai_compatible_local_server_needs_no_key(fake_provider):
    cfg = backend("vllm", "openai", fake_provider.base_url("openai", "vllm"))
    text, _, _ = await _collect(cfg)
    assert text == Reply().text
    assert "authorization" not in fake_provider.requests_to("vllm")[0].headers


async def test_anthropic_request_has_top_level_system_and_content_blocks(
    fake_provider, monkeypatch
):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-xyz")
    cfg = backend(
        "cl",
        "anthropic",
        fake_provider.base_url("anthropic", "cl"),
        api_key_env="TEST_ANTHROPIC_KEY",
        max_output_tokens=99,
    )
    await _collect(cfg)
    req = fake_provider.requests_to("cl")[0]
    assert req.path == "/v1/messages"
    assert req.headers["x-api-key"] == "sk-ant-xyz"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in req.headers
    assert req.body["system"] == "You are a careful programmer."
    assert req.body["max_tokens"] == 99
    assert req.body["stream"] is True
    assert req.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What does this do?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It prints a greeting."}]},
        {"role": "user", "content": [{"type": "text", "text": "Make it louder."}]},
    ]


async def test_gemini_request_uses_model_role_system_instruction_and_header_key(
    fake_provider, monkeypatch
):
    monkeypatch.setenv("TEST_GEMINI_KEY", "AIza-secret")
    cfg = backend(
        "gm",
        "gemini",
        fake_provider.base_url("gemini", "gm"),
        api_key_env="TEST_GEMINI_KEY",
        model="gemini-2.5-flash",
    )
    await _collect(cfg)
    req = fake_provider.requests_to("gm")[0]
    assert req.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert req.query == {"alt": ["sse"]}
    assert req.headers["x-goog-api-key"] == "AIza-secret"
    assert req.body["systemInstruction"] == {"parts": [{"text": "You are a careful programmer."}]}
    assert [c["role"] for c in req.body["contents"]] == ["user", "model", "user"]


async def test_ollama_request_sets_context_window_and_output_limit(fake_provider):
    cfg = backend(
        "ol",
        "ollama",
        fake_provider.base_url("ollama", "ol"),
        context_window=4096,
        max_output_tokens=256,
    )
    await _collect(cfg)
    req = fake_provider.requests_to("ol")[0]
    assert req.path == "/api/chat"
    assert req.body["stream"] is True
    assert req.body["options"]["num_ctx"] == 4096
    assert req.body["options"]["num_predict"] == 256
    assert req.body["messages"][0] == {"role": "system", "content": "You are a careful programmer."}


@pytest.mark.parametrize(
    ("wire", "default"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com"),
        ("gemini", "https://generativelanguage.googleapis.com"),
        ("ollama", "http://127.0.0.1:11434"),
    ],
)
def test_empty_base_url_means_the_official_host(wire, default):
    adapter = make_backend(backend(wire, wire), httpx.AsyncClient())
    assert adapter.base_url == default


@pytest.mark.parametrize("wire", WIRES)
async def test_server_ignoring_stream_true_still_gives_the_whole_answer(fake_provider, wire):
    fake_provider.default(wire, Reply(text=ANSWER, whole=True, input_tokens=8, output_tokens=4))
    cfg = backend(wire, wire, fake_provider.base_url(wire, wire))
    text, deltas, done = await _collect(cfg)
    assert text == ANSWER
    assert deltas == 1
    assert (done.usage.input_tokens, done.usage.output_tokens) == (8, 4)
