"""Provider failures become BackendErrors whose kind decides fallback, cooldown or giving up."""

from __future__ import annotations

import socket

import pytest
from modelrouter.backends import make_backend
from modelrouter.backends.base import BackendError, Message
from modelrouter.config import Timeouts
from support import upstream
from support.fakes.provider import Reply
from support.fakes.rules import backend

pytestmark = pytest.mark.usefixtures("upstream_transport")
WIRES = ["openai", "anthropic", "gemini", "ollama"]
ASK = [Message("user", "hello")]


async def _error(cfg) -> BackendError:
    async with upstream.client() as client:
        with pytest.raises(BackendError) as info:
            async for _ in make_backend(cfg, client).stream(ASK):
                pass
    return info.value


def _cfg(fake, wire, **kw):
    return backend(wire, wire, fake.base_url(wire, wire), **kw)


@pytest.mark.parametrize("wire", WIRES)
async def test_429_is_a_rate_limit_carrying_retry_after(fake_provider, wire):
    fake_provider.default(wire, Reply(status=429, headers={"retry-after": "12"}))
    error = await _error(_cfg(fake_provider, wire))
    assert error.kind == "rate_limit"
    assert error.falls_back
    assert error.retry_after == 12
    assert "429" in str(error) and "Rate limit exceeded" in str(error)


async def test_retry_after_ms_is_preferred_when_given(fake_provider):
    fake_provider.default(
        "openai", Reply(status=429, headers={"retry-after-ms": "1500", "retry-after": "2"})
    )
    error = await _error(_cfg(fake_provider, "openai"))
    assert error.retry_after == 1.5


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, "overloaded"),
        (503, "overloaded"),
        (529, "overloaded"),
        (400, "bad_request"),
        (404, "bad_request"),
        (401, "auth"),
        (403, "auth"),
    ],
)
async def test_http_status_maps_to_error_kind(fake_provider, status, kind):
    fake_provider.default("anthropic", Reply(status=status))
    error = await _error(_cfg(fake_provider, "anthropic"))
    assert error.kind == kind
    assert error.status == status
    assert str(status) in str(error)


async def test_auth_error_names_the_key_variable_to_check(fake_provider, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-wrong")
    fake_provider.default("openai", Reply(status=401))
    error = await _error(_cfg(fake_provider, "openai", api_key_env="MY_KEY"))
    assert not error.falls_back
    assert "check MY_KEY" in str(error)
    assert "sk-wrong" not in str(error)


@pytest.mark.parametrize("wire", WIRES)
async def test_stream_cut_mid_way_is_a_stream_error(fake_provider, wire):
    fake_provider.default(
        wire, Reply(text="a long answer that will be cut", chunk_size=3, cut_after=3)
    )
    error = await _error(_cfg(fake_provider, wire))
    assert error.kind == "stream"
    assert error.falls_back


@pytest.mark.parametrize("wire", WIRES)
async def test_garbage_in_the_stream_is_a_stream_error(fake_provider, wire):
    fake_provider.default(
        wire, Reply(text="a long answer with garbage", chunk_size=3, garbage_after=2)
    )
    error = await _error(_cfg(fake_provider, wire))
    assert error.kind == "stream"


@pytest.mark.parametrize("wire", WIRES)
async def test_provider_error_mid_stream_falls_back(fake_provider, wire):
    fake_provider.default(
        wire, Reply(text="an answer interrupted by an error", chunk_size=3, error_after=2)
    )
    error = await _error(_cfg(fake_provider, wire))
    assert error.falls_back
    assert "mid-stream" in str(error)


async def test_anthropic_overloaded_event_mid_stream_is_overloaded(fake_provider):
    fake_provider.default(
        "anthropic",
        Reply(text="partial text here", chunk_size=3, error_after=1, error_type="overloaded_error"),
    )
    error = await _error(_cfg(fake_provider, "anthropic"))
    assert error.kind == "overloaded"


async def test_closed_port_is_a_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = await _error(backend("dead", "openai", f"http://127.0.0.1:{port}/v1"))
    assert error.kind == "connect"
    assert error.falls_back
    assert f"127.0.0.1:{port}" in str(error)


async def test_unanswered_connect_times_out_at_the_connect_timeout():
    # A listening socket whose accept backlog is full never completes new handshakes.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        cfg = backend(
            "blackhole",
            "ollama",
            f"http://127.0.0.1:{port}",
            timeouts=Timeouts(connect=0.3, first_byte=30, total=60),
        )
        error = await _error(cfg)
    finally:
        for f in fillers:
            f.close()
        server.close()
    assert error.kind == "timeout"
    assert "connect timed out after 0.3 s" in str(error)


async def test_stalled_stream_times_out(fake_provider):
    fake_provider.default("ollama", Reply(text="slow answer", chunk_size=4, delay=2.0))
    cfg = _cfg(fake_provider, "ollama", timeouts=Timeouts(connect=1, first_byte=0.2, total=5))
    error = await _error(cfg)
    assert error.kind == "timeout"
