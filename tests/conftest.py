"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.fakes.provider import FakeProvider


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


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (the machine's binaries, a temp dir, a loopback port)."""
    from support.postgres import PostgresServer, unavailable

    why = unavailable()
    if why:
        pytest.skip(f"no PostgreSQL: {why}")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_url(postgres_server) -> str:
    """The URL of a fresh, empty PostgreSQL database for one test."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_target(request, tmp_path):
    """Each ledger backend in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    return request.getfixturevalue("pg_url")
