"""Small rule sets for tests, built in code (the YAML loader is tested on its own)."""

from __future__ import annotations

from modelrouter.config import BackendConfig, Rules, Timeouts


def backend(name: str, type: str, base_url: str = "", **kw) -> BackendConfig:
    """A backend with short timeouts so failing tests fail fast."""
    kw.setdefault("model", f"{name}-model")
    kw.setdefault("timeouts", Timeouts(connect=2.0, first_byte=5.0, total=20.0))
    return BackendConfig(name=name, type=type, base_url=base_url, **kw)


def rules_with(*backends: BackendConfig, tier: str = "feature") -> Rules:
    """Rules with one tier listing `backends` in order (plus a `top` tier on the last)."""
    by_name = {b.name: b for b in backends}
    return Rules(
        backends=by_name,
        tiers={tier: tuple(by_name), "top": (backends[-1].name,)},
        routes=(),
        default_tier=tier,
        actions={},
    )
