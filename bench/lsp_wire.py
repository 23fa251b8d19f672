"""LSP base-protocol framing over a pipe, for the benchmarks that talk to `modelrouter lsp`.

Hand-rolled rather than a client library so the figures measure the server, not a client.
"""

from __future__ import annotations

import json
from typing import IO


def frame(payload: dict) -> bytes:
    """`payload` as one JSON-RPC message with its Content-Length header."""
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: IO[bytes]) -> dict:
    """The next JSON-RPC message from `stream`; raises RuntimeError when the server is gone."""
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("server closed its output")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))
