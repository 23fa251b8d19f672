"""Which model wrote which range: tracked through later edits, persisted per file version.

Ranges are LSP ranges (line, character in the negotiated encoding). They move with every
`didChange`: text typed before a range shifts it, text replaced inside it shrinks it, and a
range deleted entirely is forgotten. Records are saved to the data directory keyed by the
document URI together with a hash of the text they describe, so they come back after a
restart only when the file is unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelrouter.positions import Pos


@dataclass
class Record:
    """One model-written range and how it came to be."""

    id: str
    start: Pos
    end: Pos
    backend: str
    model: str
    tier: str
    reason: str
    action: str
    local: bool = False
    fallbacks: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False
    cost_usd: float = 0.0
    top_tier_cost_usd: float = 0.0
    latency_s: float = 0.0
    first_token_s: float | None = None
    time: float = field(default_factory=time.time)
    redactions: int = 0
    escalated: str | None = None  # why an earlier answer was replaced by a stronger tier
    transcript: list[dict[str, Any]] = field(default_factory=list)  # neutral messages
    ledger_id: int | None = None
    fixer: bool = False  # written by a deterministic fixer, not a model
    # Every answer checked on the way: model, backend, tier, cost and the check verdicts.
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def contains(self, pos: Pos) -> bool:
        """Whether `pos` lies within the range (end inclusive, for hovering at its end)."""
        return self.start <= pos <= self.end

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Rebuild a saved record."""
        data = dict(data)
        data["start"] = Pos(*data["start"])
        data["end"] = Pos(*data["end"])
        return cls(**data)

    def markdown(self) -> str:
        """The hover text."""
        where = "local" if self.local else "cloud"
        head = f"written by `{self.model}` via `{self.backend}` ({where})"
        if self.fixer:
            head = f"written by `{self.model}` (fixer), cost $0, {self.latency_s * 1000:.0f} ms"
        lines = [
            f"**ModelRouter** · {head}",
            "",
            f"- **Tier:** {self.tier} — {self.reason or 'chosen by the action'}",
            f"- **Action:** {self.action}",
        ]
        if self.fallbacks:
            lines.append("- **Fallbacks:** " + "; ".join(self.fallbacks))
        if self.escalated:
            lines.append(f"- **Escalated:** {self.escalated}")
        if self.attempts:
            lines.append("- **Checked answers:**")
            for i, a in enumerate(self.attempts, 1):
                verdicts = ", ".join(
                    f"{c['check']} {c['status']}" + (f" ({c['detail']})" if c.get("detail") else "")
                    for c in a.get("checks", [])
                )
                lines.append(
                    f"  {i}. `{a['model']}` via `{a['backend']}` (tier {a['tier']}, "
                    f"${a.get('cost_usd', 0.0):.4f}): {verdicts or 'no checks ran'}"
                )
        est = " (estimated)" if self.estimated else ""
        lines.append(f"- **Tokens:** {self.input_tokens} in / {self.output_tokens} out{est}")
        saved = self.top_tier_cost_usd - self.cost_usd
        saving = f" (saved ${saved:.4f} against the top tier)" if saved > 0 else ""
        lines.append(f"- **Cost:** ${self.cost_usd:.4f}{saving}")
        first = f", first token {self.first_token_s:.2f} s" if self.first_token_s else ""
        lines.append(f"- **Latency:** {self.latency_s:.2f} s{first}")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))
        lines.append(f"- **When:** {stamp}")
        if self.redactions:
            lines.append(f"- **Redactions:** {self.redactions} secret(s) masked before sending")
        if self.ledger_id is not None:
            lines.append(
                f"- **Ledger:** entry #{self.ledger_id} (`modelrouter stats --id {self.ledger_id}`)"
            )
        return "\n".join(lines)


def _move(p: Pos, s: Pos, e: Pos, ne: Pos, is_start: bool) -> Pos:
    """Where position `p` goes when the text [s, e) is replaced by text ending at `ne`."""
    # Text inserted exactly at a range's start is not model-written: the start moves past it.
    if p < s or (p == s and not is_start):
        return p
    if p >= e:
        if p.line == e.line:
            return Pos(ne.line, ne.character + p.character - e.character)
        return Pos(p.line + ne.line - e.line, p.character)
    return ne if is_start else s


class ProvenanceStore:
    """Model-written ranges per document, saved under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._records: dict[str, list[Record]] = {}

    def records(self, uri: str) -> list[Record]:
        """The live records of a document."""
        return self._records.get(uri, [])

    def add(self, uri: str, record: Record) -> None:
        """Remember a freshly applied edit (replacing records it covers)."""
        kept = [
            r for r in self.records(uri) if not (record.start <= r.start and r.end <= record.end)
        ]
        self._records[uri] = [*kept, record]

    def at(self, uri: str, pos: Pos) -> Record | None:
        """The innermost (then newest) record containing `pos`."""
        hits = [r for r in self.records(uri) if r.contains(pos)]
        if not hits:
            return None
        return min(hits, key=lambda r: ((r.end[0] - r.start[0]), -r.time))

    def apply_change(self, uri: str, start: Pos | None, end: Pos | None, new_end: Pos) -> None:
        """Move the document's ranges for one `didChange` content change: `[start, end)`
        of the old text now ends at `new_end` (the document model computes it, line breaks
        merging with their neighbours included).

        A full-text change (no range) cannot be followed, so the ranges are forgotten.
        """
        if uri not in self._records:
            return
        if start is None or end is None:
            self._records.pop(uri, None)
            return
        start, end, ne = Pos(*start), Pos(*end), Pos(*new_end)
        kept = []
        for r in self._records[uri]:
            r.start = _move(Pos(*r.start), start, end, ne, True)
            r.end = _move(Pos(*r.end), start, end, ne, False)
            if r.start < r.end:
                kept.append(r)
        self._records[uri] = kept

    def forget(self, uri: str) -> None:
        """Drop a document's records from memory (they stay saved)."""
        self._records.pop(uri, None)

    def _file(self, uri: str) -> Path:
        return self.directory / (hashlib.sha256(uri.encode()).hexdigest()[:32] + ".json")

    def save(self, uri: str, text: str) -> None:
        """Persist the document's records for this exact text. Never raises."""
        records = self._records.get(uri)
        path = self._file(uri)
        try:
            if not records:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                return
            # Records hold the user's code and conversations: readable by the user alone.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            payload = {
                "uri": uri,
                "sha256": _digest(text),
                "records": [asdict(r) for r in records],
            }
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(payload))
            os.replace(tmp, path)
        except OSError:
            # Provenance is a convenience: a read-only data dir must not break editing.
            return

    def load(self, uri: str, text: str) -> int:
        """Restore saved records when `text` is what they were saved with; returns how many."""
        try:
            payload = json.loads(self._file(uri).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        if payload.get("uri") != uri or payload.get("sha256") != _digest(text):
            return 0
        try:
            records = [Record.from_dict(r) for r in payload.get("records", [])]
        except (TypeError, KeyError):
            return 0
        self._records[uri] = records
        return len(records)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
