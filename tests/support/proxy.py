"""A proxy on a free loopback port with the fake provider behind it, for the proxy tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from modelrouter.backends.aiohttp_transport import AiohttpTransport
from modelrouter.config import ClassifierSettings, Route, Rules
from modelrouter.engine import Engine
from modelrouter.health import Health
from modelrouter.ledger import Ledger
from modelrouter.proxy.app import create_app
from modelrouter.proxy.server import BackgroundProxy

from support.fakes.provider import FakeProvider
from support.fakes.rules import backend


def proxy_rules(fake: FakeProvider) -> Rules:
    """Tiers trivial (`cheap`, OpenAI wire, then `spare`, Ollama wire),
    feature (`gem`, Gemini wire), architecture (`claude`, Anthropic wire)."""
    cheap = backend("cheap", "openai", fake.base_url("openai", "cheap"))
    spare = backend("spare", "ollama", fake.base_url("ollama", "spare"))
    gem = backend("gem", "gemini", fake.base_url("gemini", "gem"))
    claude = backend("claude", "anthropic", fake.base_url("anthropic", "claude"))
    return Rules(
        backends={b.name: b for b in (cheap, spare, gem, claude)},
        tiers={"trivial": ("cheap", "spare"), "feature": ("gem",), "architecture": ("claude",)},
        routes=(
            Route(tier="trivial", patterns=("typo*", "rename*"), weight=3, name="t"),
            Route(tier="feature", patterns=("implement*",), weight=3, name="f"),
            Route(tier="architecture", patterns=("design*", "architect*"), weight=3, name="a"),
        ),
        default_tier="architecture",
        actions={},
        classifier=ClassifierSettings(mode="rules"),
    )


@contextmanager
def running_proxy(rules: Rules, *, key: str | None = None) -> Iterator[BackgroundProxy]:
    """The proxy app on a thread, with a fresh ledger and in-memory cooldowns, sending
    upstream as `modelrouter serve` does."""
    engine = Engine(rules, ledger=Ledger(), health=Health(), transport=AiohttpTransport())
    proxy = BackgroundProxy(create_app(rules, engine, key=key)).start()
    try:
        yield proxy
    finally:
        proxy.stop()
