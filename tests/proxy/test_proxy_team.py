"""A team on one proxy: every request needs a proxy key, rows carry its name, its budgets
and tiers hold, refusals name the budget (HTTP 429), keys are never forwarded upstream, and
several proxy processes share one PostgreSQL ledger without losing or doubling a row."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from modelrouter.backends.aiohttp_transport import AiohttpTransport
from modelrouter.config import Price
from modelrouter.engine import Engine
from modelrouter.health import Health
from modelrouter.keys import KeyStore, create_key, revoke_key
from modelrouter.ledger import Ledger
from modelrouter.proxy.app import create_app
from modelrouter.proxy.server import BackgroundProxy, BindError, check_bind
from support.cli import run_modelrouter
from support.fakes.provider import Reply
from support.proxy import proxy_rules


def _team_proxy(rules, ledger: Ledger, key: str | None = None) -> BackgroundProxy:
    engine = Engine(rules, ledger=ledger, health=Health(), transport=AiohttpTransport())
    keys = KeyStore(ledger, cache_s=0)
    engine.budget.key_limit = keys.limit
    return BackgroundProxy(create_app(rules, engine, key=key, keys=keys)).start()


def _chat(url: str, text: str, key: str | None = None, model: str = "modelrouter/auto"):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_with_keys_every_request_needs_one_and_its_rows_carry_its_name(fake_provider, tmp_path):
    fake_provider.default("cheap", Reply(text="renamed"))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    _, alice = create_key(ledger, "alice")
    proxy = _team_proxy(proxy_rules(fake_provider), ledger)
    try:
        assert _chat(proxy.url, "rename x").status_code == 401
        bad = _chat(proxy.url, "rename x", key="mr-" + "x" * 32)
        assert bad.status_code == 401 and "keys create" in bad.json()["error"]["message"]
        ok = _chat(proxy.url, "rename x", key=alice)
        assert ok.status_code == 200, ok.text
        # x-api-key works as well (Anthropic clients send it).
        listed = httpx.get(f"{proxy.url}/v1/models", headers={"x-api-key": alice})
        assert listed.status_code == 200
        revoke_key(ledger, "alice")
        assert _chat(proxy.url, "rename x", key=alice).status_code == 401
    finally:
        proxy.stop()
    # The proxy key never reaches a provider.
    sent = [json.dumps(r.headers) + r.raw.decode() for r in fake_provider.requests_to("cheap")]
    assert sent and not any(alice in s for s in sent)
    rows = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert [(r.key, r.status) for r in rows] == [("alice", "ok")]


def test_every_route_but_health_is_guarded_including_routes_added_later(fake_provider, tmp_path):
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    _, alice = create_key(ledger, "alice")
    rules = proxy_rules(fake_provider)
    engine = Engine(rules, ledger=ledger, health=Health(), transport=AiohttpTransport())
    app = create_app(rules, engine, keys=KeyStore(ledger, cache_s=0))
    seen: list[object] = []

    async def later(request):
        from modelrouter.proxy.access import request_key

        seen.append(request_key(request.scope))
        return JSONResponse({"ok": True})

    app.router.routes.append(Route("/v1/later", later, methods=["POST"]))
    proxy = BackgroundProxy(app).start()
    try:
        for route in app.routes:
            method = sorted(route.methods - {"HEAD"})[0]
            refused = httpx.request(method, proxy.url + route.path, json={}, timeout=10)
            if route.path == "/healthz":
                assert refused.status_code == 200
            else:
                assert refused.status_code == 401, route.path
                assert "keys create" in json.dumps(refused.json()), route.path
        # Anthropic's paths get Anthropic's error shape, the others OpenAI's.
        assert httpx.post(f"{proxy.url}/v1/messages", json={}).json()["type"] == "error"
        admitted = httpx.post(f"{proxy.url}/v1/later", json={}, headers={"x-api-key": alice})
        assert admitted.status_code == 200
    finally:
        proxy.stop()
    assert [k.name for k in seen] == ["alice"]


def test_a_keys_tiers_bound_where_its_requests_run(fake_provider, tmp_path):
    fake_provider.default("cheap", Reply(text="from cheap"))
    fake_provider.default("claude", Reply(text="from claude"))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    _, ci = create_key(ledger, "ci", tiers=["trivial"])
    proxy = _team_proxy(proxy_rules(fake_provider), ledger)
    try:
        answer = _chat(proxy.url, "design a plugin system", key=ci)
    finally:
        proxy.stop()
    assert answer.status_code == 200
    assert answer.headers["x-modelrouter-tier"] == "trivial"
    assert "key 'ci' may use trivial" in answer.headers["x-modelrouter-reason"]
    assert fake_provider.requests_to("claude") == []


def test_a_spent_key_budget_is_refused_with_429_naming_it(fake_provider, tmp_path):
    rules = proxy_rules(fake_provider)
    cheap = dataclasses.replace(rules.backends["cheap"], price=Price(0, 100))
    spare = dataclasses.replace(rules.backends["spare"], price=Price(0, 100))
    rules = dataclasses.replace(rules, backends={**rules.backends, "cheap": cheap, "spare": spare})
    # 1000 output tokens at $100 per million: $0.10 a request.
    fake_provider.default("cheap", Reply(text="ok", output_tokens=1000))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    _, bob = create_key(ledger, "bob", daily_usd=0.15)
    _, eve = create_key(ledger, "eve")
    proxy = _team_proxy(rules, ledger)
    try:
        first = _chat(proxy.url, "rename a", key=bob, model="modelrouter/trivial")
        second = _chat(proxy.url, "rename b", key=bob, model="modelrouter/trivial")
        third = _chat(proxy.url, "rename c", key=bob, model="modelrouter/trivial")
        other = _chat(proxy.url, "rename d", key=eve, model="modelrouter/trivial")
    finally:
        proxy.stop()
    assert (first.status_code, second.status_code, other.status_code) == (200, 200, 200)
    assert third.status_code == 429
    message = third.json()["error"]["message"]
    assert "key 'bob' daily budget $0.15 spent ($0.20 today)" in message


def test_binding_beyond_loopback_needs_keys(tmp_path):
    with pytest.raises(BindError, match="modelrouter keys create"):
        check_bind("0.0.0.0", None, team_keys=False)
    check_bind("0.0.0.0", None, team_keys=True)
    check_bind("0.0.0.0", "a-single-key")
    env = {"MODELROUTER_LEDGER_URL": str(tmp_path / "ledger.sqlite3")}
    refused = run_modelrouter("serve", "--host", "0.0.0.0", "--port", "9", env=env)
    assert refused.returncode == 2 and "without proxy keys" in refused.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


RULES = """
version: 1
backends:
  cheap:
    type: openai
    base_url: "{url}"
    model: cheap-model
    max_output_tokens: 100
    price: {{input: 0, output: 1000}}
tiers:
  trivial: [cheap]
default_tier: trivial
classifier: {{mode: rules}}
"""


def _serve(rules_file, port: int, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "modelrouter", "serve", "--port", str(port), "--rules",
         str(rules_file), *extra],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _healthy(port: int, proc: subprocess.Popen) -> None:
    for _ in range(400):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("the proxy never answered")


async def _streams(urls: list[str], per: int, key: str) -> list[tuple[int, str]]:
    async def one(client: httpx.AsyncClient, url: str, i: int) -> tuple[int, str]:
        body = {
            "model": "modelrouter/trivial",
            "stream": True,
            "messages": [{"role": "user", "content": f"rename {i}"}],
        }
        headers = {"authorization": f"Bearer {key}"}
        async with client.stream("POST", url, json=body, headers=headers) as response:
            return response.status_code, (await response.aread()).decode()

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as c:
        return await asyncio.gather(
            *(one(c, u, k * per + i) for k, u in enumerate(urls) for i in range(per))
        )


def test_four_proxy_processes_share_one_budget_and_lose_no_row(pg_url, fake_provider, tmp_path):
    # 100 output tokens at $1000 per million: $0.10 a request; the key's budget fits half.
    fake_provider.default("cheap", Reply(text="a short answer", output_tokens=100, delay=0.005))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES.format(url=fake_provider.base_url("openai", "cheap")))
    processes, per = 4, 10
    ledger = Ledger(pg_url)
    _, key = create_key(ledger, "load", daily_usd=0.10 * processes * per / 2)
    env = {**os.environ, "MODELROUTER_LEDGER_URL": pg_url}
    ports = [_free_port() for _ in range(processes)]
    procs = [_serve(rules_file, p, env) for p in ports]
    try:
        for p, proc in zip(ports, procs, strict=True):
            _healthy(p, proc)
        urls = [f"http://127.0.0.1:{p}/v1/chat/completions" for p in ports]
        results = asyncio.run(_streams(urls, per, key))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    statuses = sorted(s for s, _ in results)
    assert set(statuses) <= {200, 429}, results
    refused = [body for s, body in results if s == 429]
    assert all("key 'load' daily budget $2.00 spent" in body for body in refused)
    rows = ledger.entries()
    assert len(rows) == processes * per and len({r.uid for r in rows}) == len(rows)
    spend = sum(r.cost_usd for r in rows)
    assert 2.00 - 0.10 <= spend <= 2.00 + 0.10 + 1e-9
    assert sum(r.status == "ok" for r in rows) == statuses.count(200)
    assert ledger.query("SELECT COUNT(*) AS n FROM reservations")[0]["n"] == 0
    ledger.close()


def test_workers_share_one_port_and_one_ledger(fake_provider, tmp_path):
    fake_provider.default("cheap", Reply(text="ok", output_tokens=1))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES.format(url=fake_provider.base_url("openai", "cheap")))
    target = tmp_path / "ledger.sqlite3"
    ledger = Ledger(target)
    _, key = create_key(ledger, "w")
    env = {**os.environ, "MODELROUTER_LEDGER_URL": str(target)}
    port = _free_port()
    proc = _serve(rules_file, port, env, "--workers", "2")
    try:
        _healthy(port, proc)
        results = asyncio.run(_streams([f"http://127.0.0.1:{port}/v1/chat/completions"], 12, key))
    finally:
        proc.terminate()
        proc.wait(60)
    assert [s for s, _ in results] == [200] * 12
    assert [r.key for r in ledger.entries()] == ["w"] * 12
    ledger.close()
