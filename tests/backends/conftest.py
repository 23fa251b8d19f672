"""Fixtures of the backend tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import upstream


@pytest.fixture(params=upstream.TRANSPORTS)
def upstream_transport(request) -> Iterator[str]:
    """Each HTTP transport in turn for `support.upstream.client()`."""
    upstream.use(request.param)
    try:
        yield request.param
    finally:
        upstream.use("httpx")
