"""The HTTP clients the adapters are tested with: httpx's own transport (the language
server and the CLI send with it) and the aiohttp transport (the proxy's)."""

from __future__ import annotations

import httpx
from modelrouter.backends.aiohttp_transport import AiohttpTransport

TRANSPORTS = ("httpx", "aiohttp")
_current = ["httpx"]


def use(name: str) -> None:
    """Make `client()` build clients on transport `name` (one of TRANSPORTS)."""
    _current[0] = name


def client() -> httpx.AsyncClient:
    """A client on the transport in use."""
    if _current[0] == "aiohttp":
        return httpx.AsyncClient(transport=AiohttpTransport())
    return httpx.AsyncClient()
