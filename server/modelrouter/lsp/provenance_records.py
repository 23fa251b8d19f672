"""Provenance records for model-written text: what wrote it (model, backend, tier, why,
fallbacks, cost) and the conversation, kept by the provenance store for hover, redo and
follow-ups. Configured API keys never go into a record, which is persisted to disk.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from modelrouter.engine import Outcome
from modelrouter.lsp.documents import position_encoding
from modelrouter.positions import LineIndex, strip_break
from modelrouter.provenance import Record
from modelrouter.redact import hide_values

if TYPE_CHECKING:
    from modelrouter.lsp.requests import Request
    from modelrouter.lsp.server import ModelRouterServer


log = logging.getLogger("modelrouter.lsp")


def record(ls: ModelRouterServer, req: Request, outcome: Outcome, start: Any, end: Any) -> Record:
    rules = ls.rules
    cfg = rules.backends.get(outcome.backend) if rules else None
    fallbacks = list(req.fallbacks) + [f"{s.backend} skipped: {s.reason}" for s in outcome.skipped]
    keys = ls.engine.api_keys()
    return Record(
        id=uuid.uuid4().hex,
        start=(start.line, start.character),
        end=(end.line, end.character),
        backend=outcome.backend,
        model=outcome.model,
        tier=req.tier,
        reason=req.reason,
        action=req.action.id,
        local=bool(cfg and cfg.is_local),
        fallbacks=fallbacks,
        input_tokens=outcome.usage.input_tokens,
        output_tokens=outcome.usage.output_tokens,
        estimated=outcome.usage.estimated,
        cost_usd=outcome.cost_usd,
        top_tier_cost_usd=outcome.top_tier_cost_usd,
        latency_s=outcome.latency_s,
        first_token_s=outcome.first_token_s,
        redactions=outcome.redactions,
        escalated=req.escalated,
        # Persisted to disk: configured API keys never go with it, even when they were
        # pasted into the code.
        transcript=[
            {
                "role": m.role,
                "content": hide_values(m.content, keys),
                "model": m.model,
                "backend": m.backend,
            }
            for m in [*req.messages, outcome.as_message()]
        ],
        ledger_id=outcome.ledger_id,
        fixer=outcome.fixer,
        attempts=[t.as_dict() for t in req.tried],
    )


def remember(
    ls: ModelRouterServer, uri: str, start: int, new_text: str, req: Request, outcome: Outcome
) -> None:
    """Record provenance for text the client now holds at `start` (or nearby)."""
    text = ls.workspace.get_text_document(uri).source
    if text[start : start + len(new_text)] != new_text:
        # The client changed the text differently (or not yet): a record placed by a
        # search could sit on a twin of the edit, so none is made.
        log.info("applied text not where it was sent in %s; no provenance recorded", uri)
        return
    enc = position_encoding(ls)
    # Trailing line break: the range ends at the end of the last written line.
    body = strip_break(new_text)
    lines = LineIndex(text)
    p0 = lines.position_at(start, enc)
    p1 = lines.position_at(start + len(body), enc)
    ls.store.add(uri, record(ls, req, outcome, p0, p1))
    ls.store.save(uri, text)
