"""The one orchestrator behind `modelrouter ask` and the language server.

`Engine.plan` picks the ordered backends for a tier (routing, health, budget; no network).
`Engine.run` walks that chain: it streams the answer from the first backend that works,
falls over to the next one on errors a different backend may not have (refused connection,
timeouts, 429, overload, a stream broken part-way), and cools failed backends down so later
requests skip them without waiting. Partial text from a failed stream is discarded, never
returned as if whole. Every attempt is recorded in the `Outcome`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from modelrouter.backends import make_backend
from modelrouter.backends.base import BackendError, Message, StreamDone, TextDelta, Usage
from modelrouter.config import BackendConfig, Rules
from modelrouter.errors import EngineError
from modelrouter.health import Health
from modelrouter.privacy import local_only_reason
from modelrouter.redact import Redactor, StreamRestorer
from modelrouter.routing import plan as planning
from modelrouter.routing.plan import Plan, Skip
from modelrouter.tokens import estimate_tokens
from modelrouter.transcript import ContextTooSmall, trim

log = logging.getLogger(__name__)

# When every backend failed, wait at most this long (seconds) for one that sent a short
# retry-after, instead of failing the request.
RETRY_WAIT_LIMIT = 5.0
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
    source: Literal["ask", "lsp"] = "ask"
    # Routing labels for learned routing (the ledger stores the request text only with one):
    tier_override: str | None = None  # the user chose the tier explicitly
    redo_of: int | None = None  # ledger id of the answer this request redoes a tier up
    key: str | None = None  # name of the proxy key the request came with (budgets, ledger)


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


Event = AttemptStarted | Progress | FellBack


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
    # Backends ahead of the answering one that were passed over (budget, cooldown, key).
    skipped: list[Skip] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        """True when an earlier backend failed before this one answered."""
        return len(self.attempts) > 1

    def as_message(self) -> Message:
        """The answer as an assistant turn, tagged with its model, for follow-ups."""
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
    ) -> None:
        self.rules = rules
        self.ledger = ledger
        # Cooldowns are shared with other processes (the next `ask`, the LSP server, other
        # proxy processes on a PostgreSQL ledger).
        self.health = health if health is not None else Health.for_ledger(ledger)
        self.budget: Any = None  # object with .blocked_reason(name)
        if ledger is not None:
            from modelrouter.budget import BudgetGuard

            # Budgets are read from the current rules on every check, so reloads apply.
            self.budget = BudgetGuard(ledger, lambda: self.rules)
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=60.0),
        )

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
        outcome.ledger_id = await asyncio.wrap_future(pending) if pending else None
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
            try:
                messages = self.outgoing(job, cfg, redactor)
            except ContextTooSmall as exc:
                skipped.append(Skip(cfg.name, str(exc)))
                continue
            hold = await self._reserve(job, cfg, messages)
            if isinstance(hold, str):
                skipped.append(Skip(cfg.name, hold))
                continue
            emit(AttemptStarted(cfg.name, cfg.model))
            attempt_start = time.perf_counter()
            # Streamed text shown to the user gets the real values back as it arrives.
            shown = emit if cfg.is_local else _Restoring(emit, redactor)
            try:
                text, done, first = await self._attempt(cfg, messages, shown)
            except BaseException as error:
                if hold is not None:
                    self.budget.release([hold])  # nothing was spent on this backend
                if not isinstance(error, BackendError):
                    raise
                elapsed = time.perf_counter() - attempt_start
                attempts.append(Attempt(cfg.name, cfg.model, error.kind, str(error), elapsed))
                cooldown = self.health.record_failure(cfg.name, error)
                log.info(
                    "%s failed (%s: %s)%s",
                    cfg.name,
                    error.kind,
                    error,
                    f"; cooling down {cooldown:.0f} s" if cooldown else "",
                )
                if not error.falls_back:
                    message = _failure_message(job.tier, attempts, skipped)
                    raise EngineError(message, attempts) from None
                emit(FellBack(cfg.name, f"{error.kind}: {error}", _next_name(candidates, index)))
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
                redactions = redactor.count
            outcome = self._outcome(job, cfg, text, done, attempts, started, first)
            outcome.redactions = redactions
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

        Raises `ContextTooSmall` when the request does not fit its context window.
        """
        messages = self._messages_for(job, cfg)
        if cfg.is_local or not redactor.enabled:
            return messages
        texts = redactor.redact_all([m.content for m in messages], path=job.path)
        return [dataclasses.replace(m, content=t) for m, t in zip(messages, texts, strict=True)]

    def _messages_for(self, job: Job, cfg: BackendConfig) -> list[Message]:
        """The transcript as `cfg` may see it: trimmed to its context window.

        Raises `ContextTooSmall` when the request does not fit; the backend is then skipped.
        """
        return trim(job.messages, cfg.context_window, cfg.max_output_tokens)

    async def _attempt(
        self, cfg: BackendConfig, messages: list[Message], emit: Callable[[Event], None]
    ) -> tuple[str, StreamDone, float | None]:
        """Stream one backend's answer to the end; any failure is a `BackendError`."""
        backend = make_backend(cfg, self.client)
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = _Deadline()
        deadline.set(start + min(cfg.timeouts.first_byte, cfg.timeouts.total), "first byte")
        parts: list[str] = []
        tokens = 0
        chars = 0
        limit = max(REPLY_MIN_CHARS, REPLY_CHARS_PER_TOKEN * cfg.max_output_tokens)
        first: float | None = None
        done: StreamDone | None = None
        try:
            async with contextlib.aclosing(backend.stream(messages)) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        if first is None:
                            first = loop.time() - start
                            deadline.set(start + cfg.timeouts.total, "total")
                        chars += len(event.text)
                        if chars > limit:
                            raise BackendError(
                                "stream",
                                f"{cfg.name}: the reply passed {limit:,} characters "
                                f"(max_output_tokens is {cfg.max_output_tokens}); stopped",
                            )
                        parts.append(event.text)
                        tokens += estimate_tokens(event.text)
                        emit(Progress(cfg.name, tokens, event.text))
                    else:
                        done = event
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
            raise BackendError("stream", f"{cfg.name}: stream ended without completing")
        return "".join(parts), done, first

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
        return self.ledger.submit(entry)


class _Restoring:
    """Wraps an event callback so streamed text shows real values instead of placeholders."""

    def __init__(self, emit: Callable[[Event], None], redactor: Redactor) -> None:
        self._emit = emit
        self._restorer = StreamRestorer(redactor)
        self._last: Progress | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._last = event
            event = dataclasses.replace(event, text=self._restorer.feed(event.text))
        self._emit(event)

    def flush(self) -> None:
        """Emit the text held back at the end of the stream (a possible placeholder start)."""
        tail = self._restorer.flush()
        if tail and self._last is not None:
            self._emit(dataclasses.replace(self._last, text=tail))


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


def _failure_message(tier: str, attempts: list[Attempt], skipped: list[Skip]) -> str:
    lines = [f"no backend of tier {tier!r} could answer"]
    lines += [f"  {a.backend}: {a.error}" for a in attempts]
    lines += [f"  {s.backend}: skipped, {s.reason}" for s in skipped]
    return "\n".join(lines)
