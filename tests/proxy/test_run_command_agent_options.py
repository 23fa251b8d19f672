"""`modelrouter run` gives Codex `-c` options that name the proxy as its Responses provider
(valid TOML values, placed before Codex's subcommand); other commands run unchanged; only a
ModelRouter proxy already on the port is reused, whatever another program answers there."""

from __future__ import annotations

import pytest
from modelrouter.commands.run import CODEX_KEY_ENV, command_line, environment, running_proxy

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

URL = "http://127.0.0.1:9999"


def _settings(argv: list[str]) -> dict:
    """The `-c key=value` options of `argv`, each value read as TOML (as Codex does)."""
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"]
    return {k: tomllib.loads(f"v = {v}")["v"] for k, v in (p.split("=", 1) for p in pairs)}


def test_codex_gets_the_proxy_as_its_responses_provider():
    argv = command_line(["/opt/bin/codex", "exec", "fix the typo"], URL)
    assert argv[0] == "/opt/bin/codex" and argv[-2:] == ["exec", "fix the typo"]
    settings = _settings(argv)
    assert settings["model_provider"] == "modelrouter"
    assert settings["model_providers.modelrouter.base_url"] == URL + "/v1"
    assert settings["model_providers.modelrouter.wire_api"] == "responses"
    assert settings["model_providers.modelrouter.env_key"] == CODEX_KEY_ENV
    assert settings["model"] == "modelrouter/auto"


def test_other_commands_run_unchanged():
    argv = ["aider", "--model", "openai/modelrouter/auto"]
    assert command_line(argv, URL) == argv


def test_codex_reads_the_proxy_key(monkeypatch):
    monkeypatch.delenv(CODEX_KEY_ENV, raising=False)
    monkeypatch.setenv("MODELROUTER_PROXY_KEY", "team-secret")
    assert environment(URL)[CODEX_KEY_ENV] == "team-secret"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"[]"),
        (200, b'"modelrouter"'),
        (200, b"null"),
        (200, b"\xff\xfe not json"),
        (200, b'{"service": "something-else"}'),
        (404, b'{"service": "modelrouter"}'),
    ],
)
def test_another_program_on_the_port_is_not_taken_for_the_proxy(status, body):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Other)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert running_proxy("127.0.0.1", server.server_address[1]) is None
    finally:
        server.shutdown()
        server.server_close()


def test_our_own_proxy_is_reused(fake_provider):
    from support.proxy import proxy_rules
    from support.proxy import running_proxy as started

    with started(proxy_rules(fake_provider)) as proxy:
        assert running_proxy(proxy.host, proxy.port) == proxy.url
