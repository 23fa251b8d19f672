"""The wire contract between the language server and its clients.

Command names, the arguments `modelrouter.run` / `modelrouter.redo` take (parsed and
checked here, once, with messages that say which field is wrong), the results and the
status notification they send back, and the settings the server reads. The VS Code
client mirrors these in `clients/vscode/src/protocol.ts`; `schema()` (or
`python -m modelrouter.lsp.contract --schema`) gives the JSON schema both sides are
checked against.
"""

from __future__ import annotations

import json
import sys
import types as pytypes
import typing
from dataclasses import dataclass, fields
from typing import Any, Literal, NotRequired, TypedDict, overload

from modelrouter.errors import JobFailed
from modelrouter.fixers import FixerStatus
from modelrouter.stats import (
    BackendLatency,
    EscalationRow,
    EscalationsBy,
    GroupRow,
    Summary,
)

RUN = "modelrouter.run"
REDO = "modelrouter.redo"
CANCEL = "modelrouter.cancel"
ACTIONS = "modelrouter.actions"
STATS = "modelrouter.stats"
STATUS = "modelrouter.status"
DOCTOR = "modelrouter.doctor"
STATUS_NOTIFICATION = "modelrouter/status"


@dataclass(frozen=True)
class Position:
    """A zero-based line and character, in the negotiated position encoding."""

    line: int
    character: int


@dataclass(frozen=True)
class Range:
    """Two positions; either order (the job sorts them)."""

    start: Position
    end: Position


@dataclass(frozen=True)
class RunArgs:
    """The one argument of `modelrouter.run`."""

    action: str
    uri: str
    range: Range | None = None
    instruction: str | None = None
    diagnostics: tuple[str, ...] = ()


@dataclass(frozen=True)
class RedoArgs:
    """The one argument of `modelrouter.redo`: where the model-written code is."""

    uri: str
    position: Position = Position(0, 0)


class RunResult(TypedDict):
    """What `modelrouter.run` and `modelrouter.redo` return."""

    applied: bool
    message: str
    backend: NotRequired[str | None]
    model: NotRequired[str | None]
    tier: NotRequired[str | None]
    answer: NotRequired[str]  # an answer action's text, for clients that show it themselves
    uri: NotRequired[str]  # the file written (tests, design note, answer)


class ActionInfo(TypedDict):
    """One entry of `modelrouter.actions`."""

    id: str
    title: str
    tier: str
    backend: str | None
    model: str | None
    disabled: str | None
    needs_instruction: bool


class Status(TypedDict):
    """The result of `modelrouter.status` and the `modelrouter/status` notification."""

    working: bool
    backend: str | None
    model: str | None
    last_backend: str | None
    last_model: str | None
    spend_today_usd: float


class BackendReport(TypedDict):
    """One backend in `modelrouter.doctor`: whether the router would try it now, and why not."""

    name: str
    type: str
    model: str
    usable: bool
    reason: str | None


class DoctorResult(TypedDict):
    """What `modelrouter.doctor` returns."""

    version: str
    rules_file: str | None
    rules_errors: list[str]
    backends: list[BackendReport]
    fixers: list[FixerStatus]


@dataclass(frozen=True)
class StatsArgs:
    """The optional argument of `modelrouter.stats`: the period ("7d", "2026-11-01", "all")."""

    since: str | None = None


def parse_stats(raw: Any) -> StatsArgs:
    """The typed argument of `modelrouter.stats` (clients may send none)."""
    if raw is None:
        return StatsArgs()
    if not isinstance(raw, dict):
        raise JobFailed(f"{STATS} expects one object argument")
    since = raw.get("since")
    if since is not None and not isinstance(since, str):
        raise JobFailed(
            f"{STATS}: cannot read the period {since!r}: use a span like 7d, 24h, 30m, 2w, "
            "a date like 2026-11-01, or 'all'"
        )
    return StatsArgs(since)


@overload
def parse(raw: Any, *, redo: Literal[False]) -> RunArgs: ...
@overload
def parse(raw: Any, *, redo: Literal[True]) -> RedoArgs: ...
def parse(raw: Any, *, redo: bool) -> RunArgs | RedoArgs:
    """The typed arguments of `modelrouter.run` (or `.redo`); JobFailed naming the field
    that is wrong."""
    name = REDO if redo else RUN
    if not isinstance(raw, dict):
        raise JobFailed(f"{name} expects one object argument")
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri:
        raise JobFailed(f"{name}: 'uri' must be a document URI")
    if redo:
        at = raw.get("position")
        return RedoArgs(
            uri, _position(at, f"{name}: 'position'") if at is not None else Position(0, 0)
        )
    action = raw.get("action")
    if not isinstance(action, str) or not action:
        raise JobFailed(f"{name}: 'action' must be an action id")
    rng = raw.get("range")
    parsed_range = None
    if rng is not None:
        if not isinstance(rng, dict) or "start" not in rng or "end" not in rng:
            raise JobFailed(f"{name}: 'range' must be {{start, end}}")
        parsed_range = Range(
            _position(rng["start"], f"{name}: 'range.start'"),
            _position(rng["end"], f"{name}: 'range.end'"),
        )
    instruction = raw.get("instruction")
    if instruction is not None and not isinstance(instruction, str):
        raise JobFailed(f"{name}: 'instruction' must be text")
    diagnostics = raw.get("diagnostics")
    if diagnostics is not None and not (
        isinstance(diagnostics, list) and all(isinstance(d, str) for d in diagnostics)
    ):
        raise JobFailed(f"{name}: 'diagnostics' must be a list of strings")
    return RunArgs(action, uri, parsed_range, instruction, tuple(diagnostics or ()))


def _position(raw: Any, what: str) -> Position:
    ok = isinstance(raw, dict) and all(
        isinstance(raw.get(k), int) and not isinstance(raw.get(k), bool) and raw[k] >= 0
        for k in ("line", "character")
    )
    if not ok:
        raise JobFailed(f"{what} must be {{line, character}} with whole numbers from 0")
    return Position(raw["line"], raw["character"])


@dataclass
class Settings:
    """Client settings (initializationOptions or the "modelrouter" configuration section)."""

    rules_file: str | None = None
    confirm_edits: bool | None = None  # None: the rules file's edits.needs_confirmation
    design_folder: str | None = None  # None: the rules file's edits.design_folder
    log_file: str | None = None

    def update(self, raw: Any) -> list[str]:
        """Take the known keys of a settings object (nested under "modelrouter" or flat).

        A value of the wrong type is refused and the current one kept; returns why, one
        line per refused key, for the client to show."""
        if not isinstance(raw, dict):
            return []
        raw = raw.get("modelrouter", raw)
        if not isinstance(raw, dict):
            return []
        refused = []
        for wire, attr in SETTINGS_KEYS.items():
            if wire not in raw:
                continue
            value = raw[wire]
            if attr == "confirm_edits":
                if value is None or isinstance(value, bool):
                    self.confirm_edits = value
                    continue
                expected = "true or false"
            elif value is None or isinstance(value, str):
                # An empty path means "not set", as clients' settings UIs write it.
                setattr(self, attr, value or None)
                continue
            else:
                expected = "a path (text)"
            refused.append(
                f"setting {wire} must be {expected}, not {json.dumps(value)[:60]}; "
                f"keeping {json.dumps(getattr(self, attr))}"
            )
        return refused


# Wire name (camelCase, as clients write settings) → Settings field.
SETTINGS_KEYS = {
    "rulesFile": "rules_file",
    "confirmEdits": "confirm_edits",
    "designFolder": "design_folder",
    "logFile": "log_file",
}


def schema() -> dict[str, Any]:
    """The JSON schema of every wire type, keyed by the name the clients give it."""
    defs: dict[str, Any] = {
        "Position": _object_schema(Position),
        "Range": _object_schema(Range),
        "RunArgs": _object_schema(RunArgs),
        "RedoArgs": _object_schema(RedoArgs),
        "RunResult": _object_schema(RunResult),
        "ActionInfo": _object_schema(ActionInfo),
        "Status": _object_schema(Status),
        "BackendReport": _object_schema(BackendReport),
        "FixerStatus": _object_schema(FixerStatus),
        "DoctorResult": _object_schema(DoctorResult),
        "StatsArgs": _object_schema(StatsArgs),
        "Summary": _object_schema(Summary),
        "GroupRow": _object_schema(GroupRow),
        "BackendLatency": _object_schema(BackendLatency),
        "EscalationsBy": _object_schema(EscalationsBy),
        "EscalationRow": _object_schema(EscalationRow),
        "Settings": _object_schema(Settings, names=SETTINGS_KEYS),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ModelRouter language server wire contract",
        "commands": [RUN, REDO, CANCEL, ACTIONS, STATS, STATUS, DOCTOR],
        "notifications": [STATUS_NOTIFICATION],
        "$defs": defs,
    }


_NAMES = {
    "Position": Position,
    "Range": Range,
    "BackendReport": BackendReport,
    "FixerStatus": FixerStatus,
    "GroupRow": GroupRow,
    "BackendLatency": BackendLatency,
    "EscalationsBy": EscalationsBy,
    "EscalationRow": EscalationRow,
}


def _object_schema(cls: type, names: dict[str, str] | None = None) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    if hasattr(cls, "__required_keys__"):  # a TypedDict
        required = set(cls.__required_keys__)  # type: ignore[attr-defined]
        keys = {k: k for k in hints}
    else:
        required = {f.name for f in fields(cls) if _no_default(f)}
        keys = {f.name: f.name for f in fields(cls)}
    if names is not None:
        keys = {attr: wire for wire, attr in names.items()}
    props = {keys[k]: _type_schema(hints[k]) for k in keys}
    return {
        "type": "object",
        "properties": props,
        "required": sorted(keys[k] for k in keys if k in required),
        "additionalProperties": names is None and not hasattr(cls, "__required_keys__"),
    }


def _no_default(f: Any) -> bool:
    from dataclasses import MISSING

    return f.default is MISSING and f.default_factory is MISSING


def _type_schema(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin is NotRequired:
        return _type_schema(typing.get_args(hint)[0])
    if origin in (typing.Union, pytypes.UnionType):
        return {"anyOf": [_type_schema(a) for a in typing.get_args(hint)]}
    if origin is tuple or origin is list:
        return {"type": "array", "items": _type_schema(typing.get_args(hint)[0])}
    if hint is type(None):
        return {"type": "null"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return {"type": simple[hint]}
    name = getattr(hint, "__name__", None)
    if name in _NAMES:
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no schema for {hint!r}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--schema"]:
        sys.exit("usage: python -m modelrouter.lsp.contract --schema")
    print(json.dumps(schema(), indent=2))
