"""An httpx transport that sends requests with aiohttp, for the proxy's upstream calls.

The proxy relays every token of every answer: with httpx's own transport each streamed
chunk goes through h11 and httpcore in pure Python, which was most of the proxy's CPU time
per request (`bench/proxy.py`). aiohttp parses HTTP in C. The adapters keep speaking httpx
(requests, responses, `aiter_lines`, the error classes `backends.http` maps), so this
module is the only place that knows aiohttp, and it turns aiohttp's errors into httpx's.

aiohttp is imported when the transport is made (it takes ~0.2 s), so only a process that
sends through it pays for it: the proxy, at start.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import httpx

# Headers a provider sends that are longer than aiohttp's 8 KiB default (long
# rate-limit or tracing headers) are not an error.
_MAX_HEADER_BYTES = 64 * 1024


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Connection-pooling HTTP/1.1 over aiohttp; redirects, cookies and decoding are left
    to httpx, as with its own transport."""

    def __init__(self, *, max_connections: int = 100, keepalive_expiry: float = 60.0) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: Any = None
        # HTTP(S)_PROXY / NO_PROXY, read once: aiohttp's own `trust_env` reads them and the
        # netrc file again for every request.
        self._env_proxies = urllib.request.getproxies_environment()
        self._proxy_for: dict[tuple[str, str], str | None] = {}

    def _open(self) -> Any:
        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=self._keepalive_expiry,
            # The certificates httpx trusts (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), so a
            # provider reachable from the editor is reachable from the proxy.
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes, by the response's content-encoding
            max_line_size=_MAX_HEADER_BYTES,
            max_field_size=_MAX_HEADER_BYTES,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        aiohttp = self._aiohttp
        if self._session is None or self._session.closed:
            self._session = self._open()
        limits = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_sum(limits.get("pool"), limits.get("connect")),
            sock_connect=limits.get("connect"),
            sock_read=limits.get("read"),
        )
        try:
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=await request.aread(),
                allow_redirects=False,
                timeout=timeout,
                proxy=self._proxy(request.url),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _mapped(aiohttp, exc, request, connecting=True) from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(aiohttp, response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": _reason(response)},
            request=request,
        )

    def _proxy(self, url: httpx.URL) -> str | None:
        """The proxy the environment names for `url`, as httpx would use it."""
        key = (url.scheme, url.host)
        if key not in self._proxy_for:
            proxy = self._env_proxies.get(url.scheme) or self._env_proxies.get("all")
            bypass = urllib.request.proxy_bypass_environment(url.host, self._env_proxies)
            self._proxy_for[key] = None if bypass else proxy
        return self._proxy_for[key]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives; closing it early drops the connection, so the
    provider sees the hang-up and stops generating."""

    def __init__(self, aiohttp: Any, response: Any, request: httpx.Request) -> None:
        self._aiohttp = aiohttp
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _mapped(self._aiohttp, exc, self._request, connecting=False) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # back to the pool
        else:
            self._response.close()


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _reason(response: Any) -> bytes:
    return (response.reason or "").encode("ascii", "replace")


def _mapped(aiohttp: Any, exc: Exception, request: httpx.Request, *, connecting: bool) -> Exception:
    """The httpx error for an aiohttp (or socket) error, so `backends.http` maps it."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return (
            httpx.ConnectTimeout(message, request=request)
            if connecting and not isinstance(exc, aiohttp.SocketTimeoutError)
            else httpx.ReadTimeout(message, request=request)
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):
        # A response that is not HTTP/1.1 (bad status line, headers, chunk sizes).
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
        return httpx.ReadError(message, request=request)  # reset or broken after connecting
    return exc
