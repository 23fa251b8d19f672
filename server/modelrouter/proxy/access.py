"""Who may use the proxy, and under which key: checked once for every endpoint.

`AccessMiddleware` wraps the whole app, so every route (present and future) is covered
without the endpoint doing anything; only `/healthz` is open. A request is admitted by:
- the single proxy key (`serve --key` / `$MODELROUTER_PROXY_KEY`): it names nobody;
- a team key from the ledger (`modelrouter keys create`), looked up by its hash off the
  event loop and cached a few seconds (`KeyStore`): its name goes on the request's ledger
  rows, its budgets are held like a backend's, and its tiers bound where the request runs
  (`within_key`, applied where the proxy routes a request).
With neither configured, the proxy is open (it binds loopback only then). Keys can arrive
as `x-api-key`, `Authorization: Bearer` or `x-modelrouter-key`; a refusal is a 401 in the
client's error format (503 when the keys cannot be read right now).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from modelrouter.config import Rules
from modelrouter.keys import KeyStore, ProxyKey
from modelrouter.ledger import LedgerError
from modelrouter.routing.decide import Decision

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz"})
_KEY_STATE = "modelrouter.proxy_key"  # scope["state"] entries set for admitted requests
_SECRET_STATE = "modelrouter.proxy_secret"


@dataclass(frozen=True)
class Access:
    """The proxy's credentials: the single key and the ledger's team keys (either optional)."""

    key: str | None = None
    keys: KeyStore | None = None


class Denied(Exception):
    """A request is refused; `status` and `message` go back in the client's format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """The credentials a request carries, in the order clients put them."""
    keys = []
    if headers.get("x-api-key"):
        keys.append(headers["x-api-key"])
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        keys.append(auth[7:].strip())
    if headers.get("x-modelrouter-key"):
        keys.append(headers["x-modelrouter-key"])
    return keys


async def authorize(access: Access, headers: Mapping[str, str]) -> tuple[ProxyKey | None, str]:
    """(team key or None, the secret that matched or "") for an admitted request; raises
    `Denied` otherwise."""
    presented = presented_keys(headers)
    if access.key:
        expected = access.key.encode()
        if any(hmac.compare_digest(k.encode(), expected) for k in presented):
            return None, access.key
    store = access.keys
    required = False
    try:
        # A fresh cached answer is used on the loop: a thread hop per request costs more
        # than the whole check, and the ledger is read only when the cache is stale.
        if store is not None:
            cached = store.cached_required()
            required = cached if cached is not None else await asyncio.to_thread(store.required)
        if required:
            assert store is not None
            for secret in presented:
                known, found = store.cached_check(secret)
                if not known:
                    found = await asyncio.to_thread(store.check, secret)
                if found is not None:
                    return found, secret
    except LedgerError as exc:
        log.warning("proxy keys cannot be checked: %s", exc)
        raise Denied(503, "proxy keys cannot be checked right now; try again") from None
    if required:
        raise Denied(
            401,
            "this proxy needs a valid proxy key (x-api-key, Authorization: Bearer or "
            "x-modelrouter-key); `modelrouter keys create NAME` makes one",
        )
    if access.key:
        raise Denied(
            401, "this proxy needs its key (x-api-key, Authorization: Bearer or x-modelrouter-key)"
        )
    return None, ""


def request_key(scope: Scope) -> ProxyKey | None:
    """The team key an admitted request came with (None: the single key, or no keys)."""
    return scope.get("state", {}).get(_KEY_STATE)


def request_secret(scope: Scope) -> str:
    """The proxy credential an admitted request presented ("" when none was needed): never
    to be forwarded to a provider."""
    return scope.get("state", {}).get(_SECRET_STATE, "")


def within_key(rules: Rules, key: ProxyKey | None, decision: Decision) -> Decision:
    """The decision moved to a tier `key` may use (its strongest allowed one below, if any)."""
    if key is None:
        return decision
    tier = key.tier_for(decision.tier, rules.tier_order)
    if tier == decision.tier:
        return decision
    return dataclasses.replace(
        decision,
        tier=tier,
        prefer_backend=None,
        reason=f"{decision.reason}; key '{key.name}' may use {', '.join(key.tiers)}",
    )


class AccessMiddleware:
    """ASGI middleware: refuse what `authorize` refuses, before any endpoint runs."""

    def __init__(self, app: ASGIApp, access: Access, error_body) -> None:
        self.app = app
        self.access = access
        self.error_body = error_body  # (path, status, message) -> JSON body in that API's format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            key, secret = await authorize(self.access, headers)
        except Denied as exc:
            body = self.error_body(scope["path"], exc.status, exc.message)
            await _send_json(send, exc.status, body)
            return
        state = scope.setdefault("state", {})
        state[_KEY_STATE] = key
        state[_SECRET_STATE] = secret
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, body: object) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
