"""Provider adapters, by backend type.

`make_backend` builds the adapter for a rules entry; `unusable_reason` says whether one can
work right now without touching the network (an API key missing, a command not on PATH, the
embedded model not installed). `ADAPTERS` is the one table from backend type to adapter:
each adapter module is imported the first time a backend of its type is used, so a rules
file that names only a local model never loads the cloud adapters (or the reverse).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelrouter.backends.base import Backend, BackendError
from modelrouter.config import BackendConfig

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class Adapter:
    """Where a backend type's adapter lives and how it is built."""

    module: str  # under modelrouter.backends
    cls: str
    pooled: bool = True  # takes the shared httpx client (HTTP adapters)
    checks: bool = False  # the module has `unusable_reason(cfg)` of its own

    def load(self) -> Any:
        """The adapter class."""
        return getattr(importlib.import_module(f"modelrouter.backends.{self.module}"), self.cls)

    def own_reason(self, cfg: BackendConfig) -> str | None:
        """The adapter module's own availability check, if it has one."""
        if not self.checks:
            return None
        module = importlib.import_module(f"modelrouter.backends.{self.module}")
        return module.unusable_reason(cfg)


ADAPTERS: dict[str, Adapter] = {
    "openai": Adapter("openai", "OpenAIBackend"),
    "anthropic": Adapter("anthropic", "AnthropicBackend"),
    "gemini": Adapter("gemini", "GeminiBackend"),
    "ollama": Adapter("ollama", "OllamaBackend"),
    "cli": Adapter("cli", "CliBackend", pooled=False, checks=True),
    "llamacpp": Adapter("llamacpp", "LlamaCppBackend", pooled=False, checks=True),
}


def make_backend(cfg: BackendConfig, client: httpx.AsyncClient) -> Backend:
    """The adapter for `cfg`; HTTP adapters share `client` (one connection pool)."""
    adapter = ADAPTERS.get(cfg.type)
    if adapter is None:
        raise BackendError("unavailable", f"{cfg.name}: unknown backend type {cfg.type!r}")
    cls = adapter.load()
    return cls(cfg, client) if adapter.pooled else cls(cfg)


def unusable_reason(cfg: BackendConfig) -> str | None:
    """Why the backend `cfg` cannot be used right now, or None. Never touches the network."""
    if cfg.api_key_env and not cfg.api_key() and not cfg.forward_client_key:
        return f"set {cfg.api_key_env}"
    adapter = ADAPTERS.get(cfg.type)
    return adapter.own_reason(cfg) if adapter is not None else None
