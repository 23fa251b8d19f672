"""Both HTTP transports give the adapters the same answer or the same kind of error for
responses no real provider should send: a server on loopback writes the raw bytes."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess

import pytest
from modelrouter.backends import make_backend
from modelrouter.backends.base import BackendError, Message, TextDelta
from support import upstream
from support.fakes.rules import backend

pytestmark = pytest.mark.usefixtures("upstream_transport")
ASK = [Message("user", "hello")]


def _sse(texts: list[str]) -> bytes:
    events = [
        {"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in texts
    ]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return body.encode()


def _response(body: bytes, status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status}", "content-type: text/event-stream", *headers]
    head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class RawServer:
    """Answers every request with `reply` bytes, then closes the connection."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.tls: ssl.SSLContext | None = None
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(h.split(b":")[1])
                for h in head.split(b"\r\n")
                if h.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(self.reply)
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


async def _answer(reply: bytes) -> str:
    async with RawServer(reply) as url, upstream.client() as client:
        adapter = make_backend(backend("raw", "openai", url), client)
        events = [e async for e in adapter.stream(ASK)]
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def _failure(reply: bytes) -> BackendError:
    with pytest.raises(BackendError) as info:
        await _answer(reply)
    return info.value


async def test_a_gzip_encoded_stream_is_decoded():
    body = gzip.compress(_sse(["Hel", "lo"]))
    assert await _answer(_response(body, headers=("content-encoding: gzip",))) == "Hello"


async def test_headers_longer_than_8_kib_are_read():
    long = "x-request-trace: " + "a" * 20_000
    assert await _answer(_response(_sse(["ok"]), headers=(long,))) == "ok"


async def test_a_ten_megabyte_answer_arrives_whole():
    texts = ["y" * 1000] * 10_000
    assert await _answer(_response(_sse(texts))) == "y" * 10_000_000


async def test_a_redirect_is_not_followed():
    # Following it would be a connect error (no host "unreachable.invalid").
    location = "location: http://unreachable.invalid/"
    error = await _failure(_response(b"", "307 Temporary Redirect", (location,)))
    assert error.kind == "stream" and "unreachable" not in str(error)


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 abc nonsense\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked"
        b"\r\n\r\nzz\r\ndata: {}\r\n",
    ],
    ids=["bad-status", "not-http", "bad-chunk-size"],
)
async def test_a_response_that_is_not_http_is_a_stream_error(reply):
    error = await _failure(reply)
    assert error.kind == "stream"
    assert error.falls_back


async def test_a_connection_closed_before_any_response_falls_back():
    error = await _failure(b"")
    assert error.kind == "stream" and error.falls_back


async def test_a_body_cut_short_of_its_length_is_a_stream_error():
    whole = _response(_sse(["abc", "def"]))
    error = await _failure(whole[: len(whole) - 30])
    assert error.kind == "stream" and "mid-answer" in str(error)


async def test_the_environment_proxy_is_used_unless_no_proxy_names_the_host(monkeypatch):
    # The provider's host does not resolve: only a request sent through the proxy (which
    # answers for every host) can succeed.
    async with RawServer(_response(_sse(["via proxy"]))) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url.removesuffix("/v1"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        cfg = backend("raw", "openai", "http://provider.invalid/v1")
        async with upstream.client() as client:
            events = [e async for e in make_backend(cfg, client).stream(ASK)]
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "via proxy"
        monkeypatch.setenv("NO_PROXY", "provider.invalid")
        async with upstream.client() as client:
            with pytest.raises(BackendError) as info:
                async for _ in make_backend(cfg, client).stream(ASK):
                    pass
        assert info.value.kind == "connect"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def _over_tls(certificate: tuple[str, str]) -> str:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server = RawServer(_response(_sse(["secure"])))
    server.tls = context
    async with server as url:
        cfg = backend("raw", "openai", url.replace("http://", "https://"))
        async with upstream.client() as client:
            events = [e async for e in make_backend(cfg, client).stream(ASK)]
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_an_untrusted_certificate_is_refused(certificate, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(BackendError) as info:
        await _over_tls(certificate)
    assert info.value.kind == "connect"


async def test_a_certificate_trusted_through_ssl_cert_file_is_accepted(certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    assert await _over_tls(certificate) == "secure"
