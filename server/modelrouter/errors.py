"""Every error ModelRouter raises on purpose, in one tree.

Each message is for the user: it says what went wrong and, where there is one, what to do.
Front ends catch a branch (or `ModelRouterError`) and show the message; nothing else in
the package defines an exception class.

    ModelRouterError
    ├── ConfigError                 the configuration cannot be used
    │   ├── RulesError              rules file problems, each with file:line:col (.problems)
    │   └── WeightsError            a learned-routing weights file is missing, corrupt or foreign
    ├── InputError                  what the user gave cannot be used as it is
    │   ├── UsageError              bad command-line arguments
    │   ├── EvalInputError          an evaluation file line is unusable (file:line)
    │   └── RoutingError            unknown tier or backend; no tier above the top one
    ├── ContextError                the selected code alone does not fit the model's window
    ├── ContextTooSmall             a transcript's newest turn does not fit a backend's window
    │                               (also a ValueError)
    ├── NoUsableCode                a model's reply holds no code that can be applied
    ├── BackendError                one backend failed a call; .kind says how, .falls_back
    │                               whether the next backend of the tier is tried
    ├── EngineError                 no backend of the tier could answer (.attempts)
    ├── LedgerError                 the usage ledger cannot be read or written
    │   └── ProxyKeyError           a proxy key cannot be created or revoked as asked
    └── JobFailed                   an editor action ends without an edit (.outcome, .tier)

`BackendError` is the only one raised below the engine; `backends/http.py` is the one place
that turns transport errors into it (and scrubs keys from the message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from modelrouter.engine import Attempt, Outcome
    from modelrouter.rules import Problem

ErrorKind = Literal[
    "connect",  # refused / DNS / unreachable
    "timeout",  # connect, first byte or total
    "rate_limit",  # 429
    "overloaded",  # 5xx, Anthropic 529
    "stream",  # malformed or cut stream, error event mid-stream
    "auth",  # 401 / 403: retrying cannot fix it
    "bad_request",  # 400 and other 4xx: retrying cannot fix it
    "process",  # cli: non-zero exit, output cap
    "unavailable",  # not configured / missing dependency
]

RETRYABLE_KINDS = frozenset({"connect", "timeout", "rate_limit", "overloaded", "stream", "process"})


class ModelRouterError(Exception):
    """Base of every error ModelRouter raises on purpose; the message is for the user."""


class ConfigError(ModelRouterError):
    """The configuration (rules, learned weights) cannot be used."""


class RulesError(ConfigError):
    """A rules file could not be used; `problems` lists every error found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class WeightsError(ConfigError):
    """A weights file that cannot be used (missing, corrupt, wrong format)."""


class InputError(ModelRouterError):
    """Input from the user that cannot be used as it is; the message says what to fix."""


class UsageError(InputError):
    """Bad command-line input; the message says what to fix."""


class EvalInputError(InputError):
    """The JSONL file is unusable; the message says where."""


class RoutingError(InputError):
    """The request cannot be routed as asked (unknown tier or backend, nothing above the top)."""


class ContextError(ModelRouterError):
    """The selection alone does not fit the model's context window."""


class ContextTooSmall(ModelRouterError, ValueError):
    """The newest turn plus the system prompt alone do not fit the context window."""


class NoUsableCode(ModelRouterError):
    """The reply holds no code that can replace the selection; the message says why."""


class BackendError(ModelRouterError):
    """A failed call. The message never contains an API key."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.headers = headers or {}

    @property
    def falls_back(self) -> bool:
        """Whether the next backend in the chain should be tried."""
        return self.kind in RETRYABLE_KINDS


class EngineError(ModelRouterError):
    """No backend could answer; the message lists why for each one."""

    def __init__(self, message: str, attempts: list[Attempt]) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts


class LedgerError(ModelRouterError):
    """The ledger cannot be read or written (locked, corrupt, unreachable, too new)."""


class ProxyKeyError(LedgerError):
    """A proxy key operation that cannot be done (bad name, duplicate, unknown key)."""


class JobFailed(ModelRouterError):
    """The job ends without an edit; the message says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.outcome: Outcome | None = None
        self.tier: str | None = None
