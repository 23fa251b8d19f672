"""LSP base-protocol framing on a byte stream: headers, bounded bodies, resynchronising.

A message is `Content-Length: N` (other headers allowed), an empty line, and N bytes of
JSON. A bad or missing `Content-Length`, a header line that never ends, or a length past
`MAX_MESSAGE_BYTES` is a framing problem: it is reported and the reader skips to the next
`Content-Length: N` followed by a raw line break, reading what it skips in small chunks (an
oversize body is never allocated). JSON holds no raw line break inside a string, and the
header is no JSON outside one, so no body contains it: the next real message is found.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_HEADER_LINE = 8192
_CHUNK = 64 * 1024
_HEADER = re.compile(rb"([A-Za-z0-9-]+)[ \t]*:[ \t]*(.*?)[ \t]*\r?\n")
_MARKER = re.compile(rb"Content-Length:[ \t]*\d+\r?\n")
_MARKER_MAX = 64  # longest marker kept across chunk boundaries


@dataclass(frozen=True)
class FramingProblem:
    """Input that is not a well-framed message; `message` says what was wrong."""

    message: str


class _Buffered:
    """Reads from a raw stream with a push-back buffer, in bounded pieces."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buf = b""
        self.eof = False
        try:
            # The file descriptor itself: a thread blocked in a buffered read holds the
            # buffer's lock, which the interpreter then cannot take when it exits.
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None

    def _fill(self) -> bool:
        if self.eof:
            return False
        if self.fd is not None:
            data = os.read(self.fd, _CHUNK)
        else:
            read1 = getattr(self.stream, "read1", None)
            data = read1(_CHUNK) if read1 is not None else self.stream.read(_CHUNK)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def readline(self, limit: int) -> bytes:
        """One line with its `\\n`, at most `limit` bytes (less only at the end of input)."""
        while b"\n" not in self.buf[:limit] and len(self.buf) < limit:
            if not self._fill():
                break
        end = self.buf.find(b"\n", 0, limit)
        cut = end + 1 if end >= 0 else min(limit, len(self.buf))
        line, self.buf = self.buf[:cut], self.buf[cut:]
        return line

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer at the end of input."""
        while len(self.buf) < n:
            if not self._fill():
                break
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def skip_to_header(self) -> bool:
        """Drop input up to the next `Content-Length` header; False at the end of input.
        Memory stays at a few chunks however much is skipped."""
        while True:
            m = _MARKER.search(self.buf)
            if m is not None:
                self.buf = self.buf[m.start() :]
                return True
            self.buf = self.buf[-_MARKER_MAX:]  # a marker may straddle chunks
            if not self._fill():
                self.buf = b""
                return False

    def push_back(self, data: bytes) -> None:
        self.buf = data + self.buf


def read_messages(
    stream: BinaryIO, limit: int = MAX_MESSAGE_BYTES
) -> Iterator[bytes | FramingProblem]:
    """Each message body in `stream`, and a `FramingProblem` for each stretch of input that
    had to be skipped; ends at the end of input."""
    reader = _Buffered(stream)
    resync = False
    while True:
        if resync and not reader.skip_to_header():
            return
        resync = False
        length: int | None = None
        problem: str | None = None
        seen_header = False
        while True:
            line = reader.readline(MAX_HEADER_LINE)
            if not line:
                if seen_header:
                    yield FramingProblem("input ended inside a message header")
                return
            if line in (b"\r\n", b"\n"):
                if not seen_header:
                    continue  # blank lines between messages are harmless
                break
            seen_header = True
            m = _HEADER.fullmatch(line)
            if m is None:
                # The next message's header may sit inside the garbage: look at it again.
                reader.push_back(line[1:])
                shown = line[:80].decode("utf-8", "replace").rstrip()
                problem = problem or (
                    f"header line longer than {MAX_HEADER_LINE} bytes"
                    if not line.endswith(b"\n")
                    else f"not a header line: {shown!r}"
                )
                break
            if m.group(1).lower() == b"content-length":
                value = m.group(2)
                if not value.isdigit():
                    problem = f"bad Content-Length {value[:40].decode('utf-8', 'replace')!r}"
                    break
                length = int(value)
        if problem is None and length is None:
            problem = "message without a Content-Length header"
        if problem is None and length is not None and length > limit:
            problem = f"message of {length} bytes exceeds the {limit}-byte limit; skipped"
        if problem is not None:
            yield FramingProblem(problem)
            resync = True
            continue
        assert length is not None
        body = reader.read(length)
        if len(body) < length:
            yield FramingProblem(f"input ended {length - len(body)} bytes short of a message")
            return
        found = _MARKER.search(body)
        if found is not None:
            # No JSON body holds a header: the Content-Length was longer than its message
            # and swallowed the next one. Give that one back.
            inner = found.start()
            reader.push_back(body[inner:])
            yield FramingProblem("Content-Length longer than its message; resynchronised")
            body = body[:inner].rstrip()
        yield body
