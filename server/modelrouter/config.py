"""The rules model: typed, validated configuration loaded from YAML rules files.

Everything here is plain data. Loading, merging and validation live in `rules.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

BACKEND_TYPES = ("ollama", "openai", "anthropic", "gemini", "cli", "llamacpp")

# Key-less types that run on this machine; `local: true` is implied for them.
LOCAL_TYPES = ("ollama", "llamacpp")

# Types that take a plain-text prompt only: no tools, no images.
TEXT_ONLY_TYPES = ("cli", "llamacpp")


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float = 0.0
    output: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Cost in USD of a request with these token counts."""
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `first_byte` bounds the wait for the first streamed chunk."""

    connect: float = 5.0
    first_byte: float = 60.0
    total: float = 300.0


@dataclass(frozen=True)
class Budget:
    """Per-backend limits; a backend over any of them is skipped like a cooled-down one."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    requests_per_hour: int | None = None
    tokens_per_day: int | None = None


@dataclass(frozen=True)
class BackendConfig:
    """How to reach one model."""

    name: str
    type: str
    model: str = ""
    base_url: str = ""  # empty: the provider's official host
    api_key_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    context_window: int = 8192
    max_output_tokens: int = 2048
    temperature: float | None = None
    price: Price = field(default_factory=Price)
    timeouts: Timeouts = field(default_factory=Timeouts)
    budget: Budget = field(default_factory=Budget)
    local: bool = False  # runs on this machine: may see local_only files, no redaction needed
    # Proxy: send the client's own credential (x-api-key / Bearer) instead of api_key_env.
    forward_client_key: bool = False
    command: tuple[str, ...] = ()  # cli: argv, prompt on stdin
    env_allow: tuple[str, ...] = ()  # cli: extra environment variables passed through
    max_output_bytes: int = 1_000_000  # cli: output cap
    model_path: str | None = None  # llamacpp: GGUF file; None means the packaged model
    threads: int | None = None  # llamacpp
    line: int = 0  # where it was defined, for messages
    file: str = ""

    @property
    def is_local(self) -> bool:
        """True when requests to this backend never leave the machine."""
        return self.local or self.type in LOCAL_TYPES

    def api_key(self) -> str | None:
        """The API key from the environment variable the rules name."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


@dataclass(frozen=True)
class Route:
    """A classifier rule: patterns that point a free-form request at a tier."""

    tier: str
    patterns: tuple[str, ...] = ()
    weight: float = 1.0
    languages: tuple[str, ...] = ()  # language ids; empty matches any
    paths: tuple[str, ...] = ()  # path globs; empty matches any
    min_tokens: int | None = None  # only when the request is at least this long
    max_tokens: int | None = None
    name: str = ""
    line: int = 0
    file: str = ""


@dataclass(frozen=True)
class Action:
    """An editor code action."""

    id: str
    title: str
    tier: str  # a tier name, or "auto" to classify the instruction
    prompt: str
    kind: str = "rewrite"  # rewrite | tests | design | answer
    code_action_kind: str = "refactor.rewrite"
    on_diagnostics: bool = False  # offered as a quickfix on diagnostics in range
    needs_instruction: bool = False
    # Answer checks this action does not run ("unchanged" for one that may change nothing).
    skip_checks: tuple[str, ...] = ()
    line: int = 0
    file: str = ""


@dataclass(frozen=True)
class FixerConfig:
    """A deterministic tool that may answer an action before any model does."""

    name: str
    # argv; `{file}` is a temporary copy of the selection, `{suffix}` its file extension.
    command: tuple[str, ...]
    actions: tuple[str, ...]  # action ids it answers
    languages: tuple[str, ...] = ()  # language ids; empty matches any
    requests: tuple[str, ...] = ()  # words in an `ask` request that call for it ("typo")
    version_command: tuple[str, ...] = ()  # default: the command's program with --version
    timeout_s: float = 5.0
    line: int = 0
    file: str = ""


@dataclass(frozen=True)
class ClassifierSettings:
    """How free-form requests are classified."""

    mode: str = "hybrid"  # rules | learned | hybrid
    rule_confidence: float = 0.75  # rules decide alone at or above this
    escalate_below: float = 0.35  # below this one tier up, never down (tuned by cross-validation)
    weights: str | None = None  # learned model file; None: personal model, then shipped one
    llm_router: str | None = None  # backend name asked when confidence is lowest; off if None
    llm_router_timeout: float = 1.5
    llm_router_below: float = 0.55  # learned confidence below this asks the llm_router backend


@dataclass(frozen=True)
class PrivacySettings:
    """What may leave the machine."""

    local_only: tuple[str, ...] = (
        ".env*",
        "*.pem",
        "*.key",
        "**/secrets/**",
        "id_rsa*",
    )
    redact_secrets: bool = True


@dataclass(frozen=True)
class EditSettings:
    """How replies become edits."""

    needs_confirmation: bool = False
    design_folder: str = "docs/design"
    escalate_broken_trivial: bool = True


# The checks that ship, cheapest first (`checks:` adds the user's commands after them).
BUILTIN_CHECKS = ("unchanged", "syntax", "scope", "layout", "ruff", "collect")


@dataclass(frozen=True)
class CheckCommand:
    """A user's check: an argv run on a temporary copy of the edited file, before and after."""

    name: str
    command: tuple[str, ...]  # `{file}` is the temporary copy, `{suffix}` its extension
    languages: tuple[str, ...] = ()  # language ids; empty matches any
    timeout_s: float = 10.0


@dataclass(frozen=True)
class CheckSettings:
    """Checks on every answer an action applies, cheapest first."""

    enabled: bool = True
    timeout_s: float = 10.0  # the tools the built-in checks run (ruff, pytest collection)
    commands: tuple[CheckCommand, ...] = ()


@dataclass(frozen=True)
class EscalationSettings:
    """Re-asking one tier up when an answer fails a check."""

    max_steps: int = 1  # re-asks per request; 0 turns escalation off


@dataclass(frozen=True)
class ProxySettings:
    """How `modelrouter serve` maps agent requests onto tiers."""

    # Client model-name glob -> tier, backend, or "cheapest" (the cheapest tier). Names
    # that match nothing here and are no tier or backend are classified.
    models: dict[str, str] = field(default_factory=lambda: {"claude-*haiku*": "cheapest"})
    classify_chars: int = 4000  # how much of the latest human turn the classifier reads
    max_request_bytes: int = 32 * 1024 * 1024  # larger bodies get 413
    sticky_minutes: float = 120.0  # how long a conversation keeps its task's backend


@dataclass(frozen=True)
class Rules:
    """A complete, validated rule set."""

    backends: dict[str, BackendConfig]
    tiers: dict[str, tuple[str, ...]]  # ordered cheapest first
    routes: tuple[Route, ...]
    default_tier: str
    actions: dict[str, Action]
    fixers: dict[str, FixerConfig] = field(default_factory=dict)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    edits: EditSettings = field(default_factory=EditSettings)
    checks: CheckSettings = field(default_factory=CheckSettings)
    escalation: EscalationSettings = field(default_factory=EscalationSettings)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    ledger: str | None = None  # a postgresql:// URL or a SQLite file; None: the default file
    source: str = ""  # the file these rules came from

    @property
    def tier_order(self) -> list[str]:
        """Tier names, cheapest first."""
        return list(self.tiers)

    def tier_rank(self, tier: str) -> int:
        """0 for the cheapest tier."""
        return self.tier_order.index(tier)

    def next_tier(self, tier: str) -> str | None:
        """The tier above `tier`, or None at the top."""
        order = self.tier_order
        i = order.index(tier)
        return order[i + 1] if i + 1 < len(order) else None

    @property
    def top_tier(self) -> str:
        """The most capable (most expensive) tier."""
        return self.tier_order[-1]
