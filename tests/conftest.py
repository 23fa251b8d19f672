"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.provider import FakeProvider


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory, monkeypatch) -> None:
    """Keep every test's ledger (and other data) out of the real user data directory."""
    monkeypatch.setenv("MODELROUTER_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A fake model provider on 127.0.0.1 (random port) speaking all four HTTP wire formats."""
    provider = FakeProvider().start()
    try:
        yield provider
    finally:
        provider.stop()
