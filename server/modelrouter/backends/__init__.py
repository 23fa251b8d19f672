"""Provider adapters. `make_backend` builds one from its rules entry."""

from __future__ import annotations

import httpx

from modelrouter.backends.base import Backend, BackendError
from modelrouter.config import BackendConfig


def make_backend(cfg: BackendConfig, client: httpx.AsyncClient) -> Backend:
    """The adapter for `cfg`; HTTP adapters share `client` (one connection pool)."""
    if cfg.type == "openai":
        from modelrouter.backends.openai import OpenAIBackend

        return OpenAIBackend(cfg, client)
    if cfg.type == "anthropic":
        from modelrouter.backends.anthropic import AnthropicBackend

        return AnthropicBackend(cfg, client)
    if cfg.type == "gemini":
        from modelrouter.backends.gemini import GeminiBackend

        return GeminiBackend(cfg, client)
    if cfg.type == "ollama":
        from modelrouter.backends.ollama import OllamaBackend

        return OllamaBackend(cfg, client)
    if cfg.type == "cli":
        from modelrouter.backends.cli import CliBackend

        return CliBackend(cfg)
    if cfg.type == "llamacpp":
        from modelrouter.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(cfg)
    raise BackendError("unavailable", f"{cfg.name}: unknown backend type {cfg.type!r}")
