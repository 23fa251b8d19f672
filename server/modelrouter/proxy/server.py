"""Running the proxy on uvicorn: in the foreground (`serve`) or beside a command (`claude`, `run`).

Binding anything but a loopback address needs the single proxy key or team keys in the
ledger (`modelrouter keys create`). SIGINT/SIGTERM stop accepting connections and let
in-flight answers finish (up to `GRACE_S`), then the engine and the ledger close, so no
entry is half-written.

`--workers N` runs N uvicorn worker processes on one socket; each builds its own engine
from the rules file and the environment (`worker_app`), and they share the ledger, budgets,
keys and (on PostgreSQL) cooldowns through the database.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading

import uvicorn

from modelrouter.config import Rules

KEY_ENV = "MODELROUTER_PROXY_KEY"
RULES_FILE_ENV = "MODELROUTER_SERVE_RULES"  # the rules file, for worker processes
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
GRACE_S = 30.0


class BindError(ValueError):
    """The proxy refuses to listen where asked; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, key: str | None, team_keys: bool = False) -> None:
    """Refuse a non-loopback address without a proxy key or team keys."""
    if not is_loopback(host) and not key and not team_keys:
        raise BindError(
            f"refusing to listen on {host} without proxy keys: anyone who can reach it could "
            f"spend your API credits. Create keys (modelrouter keys create NAME), set --key "
            f"or {KEY_ENV}, or bind {DEFAULT_HOST}"
        )


def build(rules: Rules, key: str | None):
    """The ASGI app over a fresh engine with the ledger (budgets, stats, keys)."""
    from modelrouter.backends.aiohttp_transport import AiohttpTransport
    from modelrouter.engine import Engine
    from modelrouter.keys import KeyStore
    from modelrouter.ledger import open_ledger
    from modelrouter.proxy.app import create_app

    ledger = open_ledger(rules)
    # serving: budget checks never read the ledger on the event loop. Upstream calls go
    # through aiohttp's C HTTP parser: it relays every streamed token (bench/proxy.py).
    engine = Engine(rules, ledger=ledger, serving=True, transport=AiohttpTransport())
    keys = KeyStore(ledger)
    if engine.budget is not None:
        engine.budget.key_limit = keys.limit  # per-key dollar budgets hold like backends'
    return create_app(rules, engine, key=key, keys=keys)


def worker_app():
    """The app in one `--workers` process: rules file and key from the environment."""
    from modelrouter.rules import load_rules

    return build(load_rules(os.environ[RULES_FILE_ENV]), os.environ.get(KEY_ENV) or None)


def _config(app, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        # Nothing reads the client's address, so X-Forwarded-For is not worth a middleware.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACE_S,
    )


def serve(app, host: str, port: int) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (on our socket: see `bind_socket`)."""
    sock = bind_socket(host, port)
    try:
        uvicorn.Server(_config(app, host, port)).run(sockets=[sock])
    finally:
        sock.close()


def serve_workers(rules_file: str, key: str | None, host: str, port: int, workers: int) -> None:
    """Serve with `workers` processes on one socket until SIGINT/SIGTERM."""
    os.environ[RULES_FILE_ENV] = rules_file
    if key:
        os.environ[KEY_ENV] = key
    uvicorn.run(
        "modelrouter.proxy.server:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACE_S,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one.

    Created as IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (it checks
    the protocol); otherwise each small SSE write waits ~40 ms for the previous one's ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


class BackgroundProxy:
    """The proxy on a thread of this process, on a free loopback port; `stop()` ends it."""

    def __init__(self, app, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self._sock = bind_socket(host, port)
        self.host = host
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_config(app, host, self.port))
        self._thread = threading.Thread(target=self._run, name="modelrouter-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout: float = 15.0) -> BackgroundProxy:
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < timeout:
            threading.Event().wait(0.02)
            waited += 0.02
        if not self._server.started:
            self.stop()
            raise RuntimeError("the proxy did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(GRACE_S + 5)
        self._sock.close()


def key_from(cli_key: str | None) -> str | None:
    """The proxy key: --key, else the environment."""
    return cli_key or os.environ.get(KEY_ENV) or None
