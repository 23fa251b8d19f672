"""Rules and ledger entries shared by the ledger, stats and report tests."""

from __future__ import annotations

import random

from modelrouter.config import Action, BackendConfig, Budget, Price, Rules
from modelrouter.ledger import AttemptRecord, Ledger, RequestRecord

TIERS = {
    "trivial": ("local", "mini"),
    "standard": ("mini", "sonnet"),
    "strong": ("sonnet", "opus"),
    "frontier": ("opus", "sonnet"),
}
MODELS = {
    "local": ("ollama", "qwen2.5-coder:7b", Price(0.0, 0.0)),
    "mini": ("openai", "gpt-4.1-mini", Price(0.4, 1.6)),
    "sonnet": ("anthropic", "claude-sonnet-4-5", Price(3.0, 15.0)),
    "opus": ("anthropic", "claude-opus-4-1", Price(15.0, 75.0)),
}


def cost_usd(rules: Rules, backend: str, input_tokens: int, output_tokens: int) -> float:
    """The request's price on `backend`."""
    return rules.backends[backend].price.cost(input_tokens, output_tokens)


def top_tier_cost_usd(rules: Rules, input_tokens: int, output_tokens: int) -> float:
    """The same tokens on the top tier's primary backend."""
    return cost_usd(rules, rules.tiers[rules.top_tier][0], input_tokens, output_tokens)


def make_rules(budgets: dict[str, Budget] | None = None, **backend_overrides) -> Rules:
    """Four backends over four tiers, optionally with budgets."""
    budgets = budgets or {}
    backends = {
        name: BackendConfig(
            name=name,
            type=kind,
            model=model,
            price=price,
            budget=budgets.get(name, Budget()),
            **backend_overrides.get(name, {}),
        )
        for name, (kind, model, price) in MODELS.items()
    }
    actions = {
        "fix-typo": Action("fix-typo", "Fix typo", "trivial", "Fix the typos."),
        "implement": Action("implement", "Implement", "standard", "Implement this."),
    }
    return Rules(
        backends=backends,
        tiers=dict(TIERS),
        routes=(),
        default_tier="standard",
        actions=actions,
    )


def entry(
    rules: Rules,
    *,
    ts: float,
    tier: str = "standard",
    backend: str | None = None,
    input_tokens: int = 1000,
    output_tokens: int = 200,
    latency_s: float = 1.0,
    failed_first: str | None = None,
    status: str = "ok",
    action: str | None = "implement",
    workspace: str = "/home/dev/project",
    **extra,
) -> RequestRecord:
    """One priced entry; `failed_first` names a backend that failed before `backend` answered."""
    backend = backend or TIERS[tier][0]
    attempts = []
    if failed_first:
        attempts.append(AttemptRecord(failed_first, MODELS[failed_first][1], "rate_limit", "429"))
    ok = status == "ok"
    attempts.append(
        AttemptRecord(
            backend,
            MODELS[backend][1],
            "ok" if ok else "overloaded",
            None if ok else "503",
            latency_s,
        )
    )
    return RequestRecord(
        ts=ts,
        tier=tier,
        action=action,
        reason=f"action {action}" if action else "default tier",
        backend=backend if ok else None,
        model=MODELS[backend][1] if ok else None,
        status=status,
        attempts=attempts,
        input_tokens=input_tokens if ok else 0,
        output_tokens=output_tokens if ok else 0,
        cost_usd=cost_usd(rules, backend, input_tokens, output_tokens) if ok else 0.0,
        top_tier_cost_usd=top_tier_cost_usd(rules, input_tokens, output_tokens) if ok else 0.0,
        latency_s=latency_s,
        fallback=failed_first is not None,
        workspace=workspace,
        **extra,
    )


def week_of_entries(rules: Rules, now: float, *, n: int = 80, seed: int = 7) -> list[RequestRecord]:
    """A plausible week of use: mostly cheap tiers, some fallbacks, one failure."""
    rng = random.Random(seed)
    out = []
    tiers = ["trivial"] * 4 + ["standard"] * 3 + ["strong"] * 2 + ["frontier"]
    for i in range(n):
        tier = rng.choice(tiers)
        fell_back = rng.random() < 0.12
        chain = TIERS[tier]
        out.append(
            entry(
                rules,
                ts=now - 6.5 * 86400 + i * (6.4 * 86400 / n),
                tier=tier,
                backend=chain[1] if fell_back else chain[0],
                failed_first=chain[0] if fell_back else None,
                input_tokens=rng.randint(300, 6000),
                output_tokens=rng.randint(40, 1500),
                latency_s=round(rng.uniform(0.2, 2.0) * (1 + TIERS_RANK[tier]), 3),
                action="fix-typo" if tier == "trivial" else rng.choice(["implement", None]),
                status="failed" if i == n // 2 else "ok",
            )
        )
    return out


TIERS_RANK = {t: i for i, t in enumerate(TIERS)}


def record_escalated(
    ledger: Ledger,
    rules: Rules,
    *,
    ts: float,
    tier: str,
    steps: int,
    action: str | None = "fix-typo",
    input_tokens: int = 1000,
    output_tokens: int = 200,
    check: str = "unchanged",
) -> list[RequestRecord]:
    """One request answered on `tier` whose answers failed `check` `steps` times, each
    re-asked one tier up automatically, recorded as the engine records them. Returns the
    answers, the standing one last."""
    order = list(TIERS)
    answers = []
    for step in range(steps + 1):
        e = entry(
            rules,
            ts=ts + step,
            tier=order[TIERS_RANK[tier] + step],
            action=action,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        if answers:
            e.redo_of = answers[-1].id
            e.escalation = f"{check}: the answer on {answers[-1].tier} equals the selection"
        e.id = ledger.record(e)
        assert e.id is not None
        if step < steps:
            ledger.submit_check(e.id, check, "the answer equals the selection")
            e.check_failed = check
        answers.append(e)
    return answers
