"""The language server as `modelrouter lsp` runs it: server state plus every feature."""

from __future__ import annotations

from modelrouter.lsp import handlers
from modelrouter.lsp.server import ModelRouterServer


def create_server(rules_file: str | None = None, log_file: str | None = None) -> ModelRouterServer:
    """A server with every feature registered."""
    server = ModelRouterServer(rules_file=rules_file, log_file=log_file)
    handlers.register(server)
    return server
