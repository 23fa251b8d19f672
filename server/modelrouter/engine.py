"""The one orchestrator behind `modelrouter ask` and the language server.

`Engine.plan` picks the ordered backends for a tier (routing, health, budget; no network).
`Engine.run` walks that chain: it streams the answer from the first backend that works,
falls over to the next one on errors a different backend may not have (refused connection,
timeouts, 429, overload, a stream broken part-way), and cools failed backends down so later
requests skip them without waiting. Partial text from a failed stream is discarded, never
returned as if whole. Every attempt is recorded in the `Outcome`.

Agent requests (the proxy) carry tools, tool calls and results, images and per-call options;
backends that take plain text only are skipped for them with the reason, and streamed tool
calls reach the caller as `Piece` events, with redacted values restored like text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from modelrouter.backends import make_backend
from modelrouter.backends.base import (
    BackendError,
    ContentEvent,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from modelrouter.config import TEXT_ONLY_TYPES, BackendConfig, FixerConfig, Rules
from modelrouter.errors import EngineError
from modelrouter.health import Health
from modelrouter.privacy import local_only_reason
from modelrouter.redact import Redactor, StreamRestorer
from modelrouter.routing import plan as planning
from modelrouter.routing.plan import Plan, Skip
from modelrouter.tokens import estimate_tokens
from modelrouter.transcript import (
    CallOptions,
    ContextTooSmall,
    Message,
    Part,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    map_texts,
    tools_tokens,
    trim,
)

log = logging.getLogger(__name__)

_PLAIN = CallOptions()

# When every backend failed, wait at most this long (seconds) for one that sent a short
# retry-after, instead of failing the request.
RETRY_WAIT_LIMIT = 5.0
# How long an answer waits for its ledger id. A busy ledger (another process holding its
# lock) delays the bookkeeping, never the answer: the id is filled in when it arrives.
LEDGER_ID_WAIT_S = 0.25
# A reply is cut off (and the backend failed) past this many characters per output token
# the backend is allowed, and never below REPLY_MIN_CHARS: a provider that ignores its
# token limit cannot fill the memory or hand a 10 MB "fix" to the editor.
REPLY_CHARS_PER_TOKEN = 16
REPLY_MIN_CHARS = 256 * 1024


@dataclass
class Job:
    """One request: the transcript to answer and why it goes to `tier`."""

    messages: list[Message]
    tier: str
    reason: str = ""
    action: str | None = None
    workspace: str | None = None
    path: str | None = None
    local_only: bool = False  # only backends that run on this machine may see it
    prefer_backend: str | None = None  # tried first when usable (sticky follow-ups)
    source: Literal["ask", "lsp", "proxy"] = "ask"
    client: str | None = None  # the proxy's client program (from its user-agent)
    options: CallOptions = field(default_factory=CallOptions)  # tools, limits (agents)
    # Routing labels for learned routing (the ledger stores the request text only with one):
    tier_override: str | None = None  # the user chose the tier explicitly
    redo_of: int | None = None  # ledger id of the answer this request redoes a tier up
    # An automatic re-ask: "<check>: <detail>" of the failed answer it replaces (`redo_of`).
    escalation: str | None = None
    key: str | None = None  # name of the proxy key the request came with (budgets, ledger)
    # False: the answer returns without waiting for its ledger id (filled in when stored);
    # the proxy never shows it, so its clients' streams end without that wait.
    wait_for_ledger_id: bool = True


class FailedCheck(Protocol):
    """What a check found wrong with an answer, as the ledger records it."""

    @property
    def check(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True)
class AttemptStarted:
    """A backend is being asked."""

    backend: str
    model: str


@dataclass(frozen=True)
class Progress:
    """More answer text arrived; `text` is the new piece, `output_tokens` the running count."""

    backend: str
    output_tokens: int
    text: str = ""


@dataclass(frozen=True)
class FellBack:
    """`from_backend` failed with `error`; text streamed so far is void, `to_backend` restarts."""

    from_backend: str
    error: str
    to_backend: str | None


@dataclass(frozen=True)
class Piece:
    """A streamed tool call or thinking event of the answer (text comes as `Progress`)."""

    backend: str
    event: ContentEvent


Event = AttemptStarted | Progress | FellBack | Piece


@dataclass
class Attempt:
    """One backend tried: `outcome` is "ok" or the error kind (see `backends.base.ErrorKind`)."""

    backend: str
    model: str
    outcome: str
    error: str | None = None
    elapsed_s: float = 0.0


@dataclass
class Outcome:
    """A complete answer and everything worth knowing about how it was obtained."""

    text: str
    backend: str
    model: str
    tier: str
    reason: str
    attempts: list[Attempt]
    usage: Usage
    cost_usd: float
    top_tier_cost_usd: float
    latency_s: float
    first_token_s: float | None
    redactions: int = 0
    ledger_id: int | None = None
    # The ledger row's own id, known before `ledger_id` is: a check recorded on the answer
    # while the ledger is busy still finds its row.
    ledger_uid: str | None = None
    # Backends ahead of the answering one that were passed over (budget, cooldown, key).
    skipped: list[Skip] = field(default_factory=list)
    # The whole answer as transcript parts (text, tool calls, thinking) and why it ended.
    parts: tuple[Part, ...] = ()
    stop_reason: str = "end_turn"
    fixer: bool = False  # answered by a deterministic fixer (`backend` names it), not a model

    @property
    def fell_back(self) -> bool:
        """True when an earlier backend failed before this one answered."""
        return len(self.attempts) > 1

    def as_message(self) -> Message:
        """The answer as an assistant turn, tagged with its model, for follow-ups."""
        if any(not isinstance(p, Text) for p in self.parts):
            return Message(
                "assistant", self.text, model=self.model, backend=self.backend, parts=self.parts
            )
        return Message("assistant", self.text, model=self.model, backend=self.backend)


class _Deadline:
    """Cancels the running task at a moment that can be moved (first byte, then total)."""

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self.fired: str | None = None
        self._what = ""

    def set(self, when: float, what: str) -> None:
        self.cancel()
        self._what = what
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.fired = self._what
        if self._task is not None:
            self._task.cancel()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class Engine:
    """Plans and runs requests over one shared HTTP connection pool.

    Close it with `aclose()`, or use it as `async with Engine(rules) as engine:`.
    """

    def __init__(
        self,
        rules: Rules,
        *,
        ledger: Any = None,
        client: httpx.AsyncClient | None = None,
        health: Health | None = None,
        serving: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`serving`: a long-running server's engine; its budget checks never read the
        ledger in place (see `BudgetGuard`), so a locked ledger cannot stall its event loop.
        `transport`: what the engine's own client sends with (default: httpx's)."""
        self.rules = rules
        self.ledger = ledger
        # Cooldowns are shared with other processes (the next `ask`, the LSP server, other
        # proxy processes on a PostgreSQL ledger).
        self.health = health if health is not None else Health.for_ledger(ledger)
        self.budget: Any = None  # object with .blocked_reason(name)
        if ledger is not None:
            from modelrouter.budget import BudgetGuard

            # Budgets are read from the current rules on every check, so reloads apply.
            self.budget = BudgetGuard(ledger, lambda: self.rules, read_in_place=not serving)
        self._own_client = client is None
        if client is None:
            limits = httpx.Limits(max_keepalive_connections=20, keepalive_expiry=60.0)
            if transport is None:
                # TCP_NODELAY: httpx writes a request's headers and body separately, and with
                # Nagle the body waits for the provider's delayed ACK (~20-40 ms per request).
                nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
                transport = httpx.AsyncHTTPTransport(limits=limits, socket_options=nodelay)
            client = httpx.AsyncClient(limits=limits, transport=transport)
        self.client = client

    def plan(self, tier: str, *, local_only: bool = False) -> Plan:
        """The ordered backends for `tier` and why others are skipped. Never touches the network."""
        self.health.refresh()  # at most a stat a second: cooldowns other processes set
        return planning.plan(
            self.rules, tier, health=self.health, budget=self.budget, local_only=local_only
        )

    async def run(self, job: Job, on_event: Callable[[Event], None] | None = None) -> Outcome:
        """Answer `job` from the first backend in its tier's chain that works.

        Raises `EngineError` when every candidate failed or was skipped. Cancelling the task
        running this stops the HTTP stream or kills the subprocess at once.
        """
        emit = on_event or _ignore
        started = time.perf_counter()
        plan = self.plan(job.tier, local_only=self.is_local_only(job))
        attempts: list[Attempt] = []
        skipped = list(plan.skipped)
        why = self.local_only_reason(job)
        if why:
            # Say which file and which rule keep the request here, not just the policy.
            skipped = [
                s
                if self.rules.backends[s.backend].is_local
                else Skip(s.backend, f"not local: {why}")
                for s in skipped
            ]
        holds: list[Any] = []  # the answering backend's budget reservation, settled on record
        try:
            outcome = await self._walk(job, plan, attempts, skipped, emit, started, holds)
        except EngineError as exc:
            self._record(job, skipped, attempts=attempts, status="failed", error=exc.message)
            raise
        except asyncio.CancelledError:
            self._record(job, skipped, attempts=attempts, status="cancelled", error="cancelled")
            raise
        chain = {name: i for i, name in enumerate(self.rules.tiers.get(job.tier, ()))}
        answered = chain.get(outcome.backend, len(chain))
        outcome.skipped = [s for s in skipped if chain.get(s.backend, len(chain)) < answered]
        pending = self._record(job, skipped, outcome=outcome, holds=holds)
        if pending is not None:
            wait = LEDGER_ID_WAIT_S if job.wait_for_ledger_id else 0.0
            outcome.ledger_id = await _ledger_id(pending, outcome, wait)
        return outcome

    async def answer_by_fixer(
        self, job: Job, fixers: list[FixerConfig], selection: str, language_id: str
    ) -> Outcome | None:
        """The answer of the first of `fixers` that changes `selection` (cost 0, recorded in
        the ledger like a model's answer), or None: the request goes on to the models."""
        if not fixers:
            return None
        from modelrouter.fixers import first_fix, suffix_for
        from modelrouter.prompts import fence

        fixed = await first_fix(fixers, selection, suffix_for(language_id, job.path))
        if fixed is None:
            return None
        text = fence(fixed.text, language_id)
        # What a model would have read and written: the savings the fixer made.
        usage = Usage(
            sum(estimate_tokens(m.content) for m in job.messages), estimate_tokens(text), True
        )
        outcome = Outcome(
            text=text,
            backend=fixed.fixer,
            model=fixed.version,
            tier=job.tier,
            reason="; ".join(filter(None, [job.reason, f"answered by the {fixed.fixer} fixer"])),
            attempts=[Attempt(fixed.fixer, fixed.version, "ok", elapsed_s=fixed.elapsed_s)],
            usage=usage,
            cost_usd=0.0,
            top_tier_cost_usd=self._top_tier_cost(usage),
            latency_s=fixed.elapsed_s,
            first_token_s=None,
            parts=(Text(text),),
            fixer=True,
        )
        pending = self._record(job, [], outcome=outcome)
        if pending is not None:
            outcome.ledger_id = await _ledger_id(pending, outcome)
        return outcome

    async def _walk(
        self,
        job: Job,
        plan: Plan,
        attempts: list[Attempt],
        skipped: list[Skip],
        emit: Callable[[Event], None],
        started: float,
        holds: list[Any],
        may_wait: bool = True,
    ) -> Outcome:
        candidates = _prefer(plan.candidates, job.prefer_backend)
        redactor = self.redactor()
        for index, cfg in enumerate(candidates):
            # plan() checked cooldowns up front; a concurrent request may have cooled a later
            # backend down since.
            blocked = self.health.blocked_reason(cfg.name) if index else None
            if blocked:
                skipped.append(Skip(cfg.name, blocked))
                continue
            cannot = capability_reason(job, cfg)
            if cannot:
                skipped.append(Skip(cfg.name, cannot))
                continue
            try:
                messages = self.outgoing(job, cfg, redactor)
            except ContextTooSmall as exc:
                skipped.append(Skip(cfg.name, str(exc)))
                continue
            options = self.outgoing_options(job, cfg, redactor)
            hold = await self._reserve(job, cfg, messages)
            if isinstance(hold, str):
                skipped.append(Skip(cfg.name, hold))
                continue
            emit(AttemptStarted(cfg.name, cfg.model))
            attempt_start = time.perf_counter()
            # Streamed text shown to the user gets the real values back as it arrives (when
            # nothing was redacted there is nothing to put back).
            shown = emit if cfg.is_local or not redactor.count else _Restoring(emit, redactor)
            try:
                text, done, first, parts = await self._attempt(cfg, messages, shown, options)
            except BaseException as error:
                if hold is not None:
                    self.budget.release([hold])  # nothing was spent on this backend
                if not isinstance(error, BackendError):
                    raise
                elapsed = time.perf_counter() - attempt_start
                message = _without_name(str(error), cfg.name)
                attempts.append(Attempt(cfg.name, cfg.model, error.kind, message, elapsed))
                cooldown = self.health.record_failure(cfg.name, error)
                log.info(
                    "%s failed (%s: %s)%s",
                    cfg.name,
                    error.kind,
                    error,
                    f"; cooling down {cooldown:.0f} s" if cooldown else "",
                )
                if not error.falls_back:
                    why = _failure_message(job.tier, attempts, skipped, stopped=attempts[-1])
                    raise EngineError(why, attempts) from None
                emit(FellBack(cfg.name, f"{error.kind}: {message}", _next_name(candidates, index)))
                continue
            if hold is not None:
                holds.append(hold)
            elapsed = time.perf_counter() - attempt_start
            attempts.append(Attempt(cfg.name, done.model or cfg.model, "ok", None, elapsed))
            self.health.record_success(cfg.name, done.headers)
            redactions = 0
            if not cfg.is_local:
                if isinstance(shown, _Restoring):
                    shown.flush()
                text = redactor.restore(text)
                parts = _restored(parts, redactor)
                redactions = redactor.count
            outcome = self._outcome(job, cfg, text, done, attempts, started, first)
            outcome.redactions = redactions
            outcome.parts = parts
            outcome.stop_reason = done.stop_reason
            return outcome
        retry = self._short_wait(candidates, attempts) if may_wait else None
        if retry is not None:
            # Every backend failed, but one asked us to come back in a moment: waiting that
            # long once beats failing the request.
            cfg, seconds = retry
            log.info("%s asked to retry in %.1f s; waiting", cfg.name, seconds)
            await asyncio.sleep(seconds)
            again = Plan(plan.tier, [cfg], [])
            return await self._walk(
                job, again, attempts, skipped, emit, started, holds, may_wait=False
            )
        raise EngineError(_failure_message(job.tier, attempts, skipped), attempts)

    async def _reserve(self, job: Job, cfg: BackendConfig, messages: list[Message]) -> Any:
        """Hold this request's estimated maximum cost against `cfg`'s (and the key's)
        dollar budgets: a Hold, the refusal reason, or None (nothing to hold)."""
        reserve = getattr(self.budget, "areserve", None)
        if reserve is None:
            return None
        prompt = sum(estimate_tokens(m.content) for m in messages if isinstance(m.content, str))
        worst = cfg.price.cost(prompt, cfg.max_output_tokens)
        return await reserve(cfg, worst, key=job.key)

    def _short_wait(
        self, candidates: list[BackendConfig], attempts: list[Attempt]
    ) -> tuple[BackendConfig, float] | None:
        """The tried backend whose rate-limit/overload cooldown ends soonest, if that is soon."""
        failed = {a.backend for a in attempts if a.outcome in ("rate_limit", "overloaded")}
        waits = [(self.health.cooldown_left(c.name), c) for c in candidates if c.name in failed]
        if not waits:
            return None
        seconds, cfg = min(waits, key=lambda pair: pair[0])
        return (cfg, seconds) if seconds <= RETRY_WAIT_LIMIT else None

    async def aclose(self) -> None:
        """Close the connection pool (only when the engine created it)."""
        if self._own_client:
            await self.client.aclose()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def is_local_only(self, job: Job) -> bool:
        """Whether `job` must stay on this machine: marked so, or about a local_only file."""
        return job.local_only or self.local_only_reason(job) is not None

    def local_only_reason(self, job: Job) -> str | None:
        """Why `job` must stay on this machine because of its file, or None."""
        return local_only_reason([job.path], self.rules, workspace=job.workspace)

    def api_keys(self) -> tuple[str, ...]:
        """The values of every API key the rules configure (to keep them out of everything)."""
        keys = {b.api_key() for b in self.rules.backends.values() if b.api_key_env}
        return tuple(k for k in keys if k)

    def redactor(self) -> Redactor:
        """A fresh redactor for one request; the configured API keys are always redacted."""
        return Redactor(known=self.api_keys(), enabled=self.rules.privacy.redact_secrets)

    def outgoing(self, job: Job, cfg: BackendConfig, redactor: Redactor) -> list[Message]:
        """Exactly the messages `cfg` would receive: trimmed, and redacted unless it is local.

        With redaction off, the configured API keys are still replaced: a key pasted into the
        code never reaches another provider. Raises `ContextTooSmall` when the request does
        not fit its context window.
        """
        messages = self._messages_for(job, cfg)
        if cfg.is_local:
            return messages
        return map_texts(messages, lambda texts: redactor.redact_all(texts, path=job.path))

    def outgoing_options(self, job: Job, cfg: BackendConfig, redactor: Redactor) -> CallOptions:
        """The call options `cfg` receives: a passthrough body only for Anthropic backends,
        redacted like the transcript unless the backend is local."""
        options = job.options
        if options.passthrough is None:
            return options
        if cfg.type != "anthropic":
            return dataclasses.replace(options, passthrough=None)
        if cfg.is_local:
            return options  # with redaction off the redactor still replaces configured keys
        return dataclasses.replace(options, passthrough=_redact_body(options.passthrough, redactor))

    def _messages_for(self, job: Job, cfg: BackendConfig) -> list[Message]:
        """The transcript as `cfg` may see it: trimmed to its context window.

        Raises `ContextTooSmall` when the request does not fit; the backend is then skipped.
        """
        reserve = cfg.max_output_tokens + tools_tokens(job.options.tools)
        return trim(job.messages, cfg.context_window, reserve)

    async def _attempt(
        self,
        cfg: BackendConfig,
        messages: list[Message],
        emit: Callable[[Event], None],
        options: CallOptions | None = None,
    ) -> tuple[str, StreamDone, float | None, tuple[Part, ...]]:
        """Stream one backend's answer to the end; any failure is a `BackendError`."""
        backend = make_backend(cfg, self.client)
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = _Deadline()
        deadline.set(start + min(cfg.timeouts.first_byte, cfg.timeouts.total), "first byte")
        parts: list[str] = []
        answer = _Answer()
        tokens = 0
        chars = 0
        limit = max(REPLY_MIN_CHARS, REPLY_CHARS_PER_TOKEN * cfg.max_output_tokens)
        first: float | None = None
        done: StreamDone | None = None
        # Plain requests call stream(messages) as every backend always accepted.
        plain = options is None or options == _PLAIN
        stream_of = backend.stream(messages) if plain else backend.stream(messages, options)
        try:
            async with contextlib.aclosing(stream_of) as stream:
                async for event in stream:
                    if isinstance(event, StreamDone):
                        done = event
                        continue
                    if first is None:
                        first = loop.time() - start
                        deadline.set(start + cfg.timeouts.total, "total")
                    # Text and tool-call arguments count towards the reply-size cap.
                    if isinstance(event, (TextDelta, ToolCallDelta)):
                        size = event.text if isinstance(event, TextDelta) else event.arguments
                        chars += len(size)
                        if chars > limit:
                            raise BackendError(
                                "stream",
                                f"{cfg.name}: the reply passed {limit:,} characters "
                                f"(max_output_tokens is {cfg.max_output_tokens}); stopped",
                            )
                    answer.add(event)
                    if isinstance(event, TextDelta):
                        parts.append(event.text)
                        tokens += estimate_tokens(event.text)
                        emit(Progress(cfg.name, tokens, event.text))
                    else:
                        emit(Piece(cfg.name, event))
        except asyncio.CancelledError:
            if deadline.fired is None:
                raise
            if _uncancel():
                raise  # cancelled from outside as well: that wins over our timeout
            if deadline.fired == "first byte" and first is None:
                limit = min(cfg.timeouts.first_byte, cfg.timeouts.total)
                message = f"no answer text within {limit:g} s"
            else:
                message = f"answer not complete within {cfg.timeouts.total:g} s"
            raise BackendError("timeout", message) from None
        finally:
            deadline.cancel()
        if done is None:
            raise BackendError("stream", "stream ended without completing")
        return "".join(parts), done, first, answer.parts()

    def _outcome(
        self,
        job: Job,
        cfg: BackendConfig,
        text: str,
        done: StreamDone,
        attempts: list[Attempt],
        started: float,
        first: float | None,
    ) -> Outcome:
        usage = done.usage
        return Outcome(
            text=text,
            backend=cfg.name,
            model=done.model or cfg.model,
            tier=job.tier,
            reason=job.reason,
            attempts=attempts,
            usage=usage,
            cost_usd=cfg.price.cost(usage.input_tokens, usage.output_tokens),
            top_tier_cost_usd=self._top_tier_cost(usage),
            latency_s=time.perf_counter() - started,
            first_token_s=first,
        )

    def _top_tier_cost(self, usage: Usage) -> float:
        """What the same tokens would have cost on the top tier's first backend."""
        names = self.rules.tiers.get(self.rules.top_tier, ())
        top = self.rules.backends.get(names[0]) if names else None
        return top.price.cost(usage.input_tokens, usage.output_tokens) if top else 0.0

    def _record(
        self,
        job: Job,
        skipped: list[Skip],
        *,
        outcome: Outcome | None = None,
        attempts: list[Attempt] | None = None,
        status: str | None = None,
        error: str | None = None,
        holds: list[Any] | None = None,
    ) -> concurrent.futures.Future[int | None] | None:
        """Queue the request for the ledger's writer thread (never blocks, never raises).

        The future's result is the ledger id, or None when it could not be recorded.
        """
        if self.ledger is None:
            return None
        from modelrouter.ledger import build_entry

        entry = build_entry(
            job,
            outcome=outcome,
            attempts=attempts or (),
            status=status or "failed",
            error=error,
            skipped=skipped,
            chain=self.rules.tiers.get(job.tier, ()),
            keys=self.api_keys(),
        )
        entry.reservations = [h.id for h in holds or ()]
        if outcome is not None:
            outcome.ledger_uid = entry.uid
        return self.ledger.submit(entry)

    def record_check(self, outcome: Outcome, failure: FailedCheck) -> None:
        """Note in the ledger that `outcome`'s answer failed a check (`failure` is, for
        instance, a routing.escalation.CheckFailure). Never blocks, never raises."""
        if self.ledger is None:
            return
        self.ledger.submit_check(
            outcome.ledger_id, failure.check, failure.detail, uid=outcome.ledger_uid
        )


def needs_rich_backend(job: Job) -> tuple[bool, bool]:
    """(needs tool calls, needs images) for `job`."""
    tools = bool(job.options.tools) or any(
        m.parts and any(isinstance(p, (ToolCall, ToolResult)) for p in m.parts)
        for m in job.messages
    )
    images = any(m.has_images for m in job.messages)
    return tools, images


def capability_reason(job: Job, cfg: BackendConfig) -> str | None:
    """Why `cfg` cannot take `job` (tool calls or images to a text-only backend), or None."""
    if cfg.type not in TEXT_ONLY_TYPES:
        return None
    tools, images = needs_rich_backend(job)
    if tools:
        return f"a {cfg.type} backend cannot take tool calls"
    if images:
        return f"a {cfg.type} backend cannot take images"
    return None


class _Answer:
    """Builds the whole answer's parts (text, tool calls, thinking) from stream events."""

    def __init__(self) -> None:
        self._parts: list[Any] = []  # Text pieces, [id, name, [args]] lists, Thinking lists
        self._calls: dict[int, list[Any]] = {}

    def add(self, event: ContentEvent) -> None:
        last = self._parts[-1] if self._parts else None
        if isinstance(event, TextDelta):
            if isinstance(last, list) and last[0] == "text":
                last[1].append(event.text)
            else:
                self._parts.append(["text", [event.text]])
        elif isinstance(event, ToolCallStart):
            call = ["call", event.id, event.name, []]
            self._calls[event.index] = call
            self._parts.append(call)
        elif isinstance(event, ToolCallDelta):
            self._calls[event.index][3].append(event.arguments)
        elif isinstance(event, ThinkingDelta):
            if event.redacted:
                self._parts.append(["redacted", event.redacted])
            elif isinstance(last, list) and last[0] == "thinking" and not last[2]:
                last[1].append(event.text)
                last[2] = event.signature
            else:
                self._parts.append(["thinking", [event.text], event.signature])

    def parts(self) -> tuple[Part, ...]:
        out: list[Part] = []
        for item in self._parts:
            if item[0] == "text":
                out.append(Text("".join(item[1])))
            elif item[0] == "call":
                out.append(ToolCall(item[1], item[2], "".join(item[3]) or "{}"))
            elif item[0] == "thinking":
                out.append(Thinking("".join(item[1]), item[2]))
            else:
                out.append(Thinking(redacted=item[1]))
        return tuple(out)


def _restored(parts: tuple[Part, ...], redactor: Redactor) -> tuple[Part, ...]:
    """`parts` with placeholders in text and tool arguments replaced by the real values."""
    out: list[Part] = []
    for p in parts:
        if isinstance(p, Text):
            p = Text(redactor.restore(p.text))
        elif isinstance(p, ToolCall):
            p = dataclasses.replace(p, arguments=redactor.restore(p.arguments, in_json=True))
        out.append(p)
    return tuple(out)


def _redact_body(value: Any, redactor: Redactor, key: str = "") -> Any:
    """A client's JSON body with secrets redacted in every string a model reads.

    Thinking blocks, signatures and binary data stay as they are (signatures must verify).
    """
    if isinstance(value, dict):
        if value.get("type") in ("thinking", "redacted_thinking", "image", "document"):
            return value
        return {k: _redact_body(v, redactor, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_body(v, redactor, key) for v in value]
    if isinstance(value, str) and key not in ("type", "id", "tool_use_id", "model", "signature"):
        return redactor.redact(value)
    return value


class _Restoring:
    """Wraps an event callback so streamed text shows real values instead of placeholders.

    Tool-call arguments are restored per call; held-back text is flushed before any other
    event, so the order of text and tool calls is kept.
    """

    def __init__(self, emit: Callable[[Event], None], redactor: Redactor) -> None:
        self._emit = emit
        self._redactor = redactor
        self._restorer = StreamRestorer(redactor)
        self._calls: dict[int, StreamRestorer] = {}
        self._last: Progress | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._last = event
            event = dataclasses.replace(event, text=self._restorer.feed(event.text))
        elif isinstance(event, Piece):
            self.flush()
            inner = event.event
            if isinstance(inner, ToolCallDelta):
                restorer = self._calls.setdefault(
                    inner.index, StreamRestorer(self._redactor, in_json=True)
                )
                text = restorer.feed(inner.arguments)
                if not text:
                    return
                event = Piece(event.backend, ToolCallDelta(inner.index, text))
            elif isinstance(inner, ToolCallEnd) and inner.index in self._calls:
                tail = self._calls.pop(inner.index).flush()
                if tail:
                    self._emit(Piece(event.backend, ToolCallDelta(inner.index, tail)))
        self._emit(event)

    def flush(self) -> None:
        """Emit the text held back (a possible placeholder start): at the end of the stream
        and before a tool call or thinking."""
        tail = self._restorer.flush()
        if tail and self._last is not None:
            self._emit(dataclasses.replace(self._last, text=tail))


async def _ledger_id(
    pending: concurrent.futures.Future[int | None],
    outcome: Outcome,
    wait_s: float = LEDGER_ID_WAIT_S,
) -> int | None:
    """The ledger id if it is stored within `wait_s`; else None for now, and the outcome
    gets it when the writer thread is done."""
    if wait_s:
        stored = asyncio.shield(asyncio.wrap_future(pending))
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(stored, wait_s)
    if pending.done():
        return pending.result()

    def late(done: concurrent.futures.Future[int | None]) -> None:
        outcome.ledger_id = done.result()

    pending.add_done_callback(late)
    return None


def _ignore(_event: Event) -> None:
    return None


def _uncancel() -> bool:
    """Undo our own deadline's cancellation; True if another cancellation is still pending."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        return task.uncancel() > 0
    return False


def _prefer(candidates: list[BackendConfig], name: str | None) -> list[BackendConfig]:
    if not name:
        return list(candidates)
    first = [c for c in candidates if c.name == name]
    return first + [c for c in candidates if c.name != name]


def _next_name(candidates: list[BackendConfig], index: int) -> str | None:
    return candidates[index + 1].name if index + 1 < len(candidates) else None


def _without_name(message: str, name: str) -> str:
    """A backend's error without its own name in front: the caller shows `name: ...` once."""
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _failure_message(
    tier: str, attempts: list[Attempt], skipped: list[Skip], stopped: Attempt | None = None
) -> str:
    if stopped is not None:
        # An error no other backend can fix (a refused key, a bad request): say that first,
        # with what to check, rather than "no backend could answer".
        lines = [
            f"{stopped.backend}: {stopped.error}",
            f"tier {tier!r}: not retried on another backend (this needs fixing, not a retry)",
        ]
        lines += [f"  {a.backend}: {a.error}" for a in attempts if a is not stopped]
        lines += [f"  {s.backend}: skipped, {s.reason}" for s in skipped]
        return "\n".join(lines)
    lines = [f"no backend of tier {tier!r} could answer"]
    lines += [f"  {a.backend}: {a.error}" for a in attempts]
    lines += [f"  {s.backend}: skipped, {s.reason}" for s in skipped]
    return "\n".join(lines)
