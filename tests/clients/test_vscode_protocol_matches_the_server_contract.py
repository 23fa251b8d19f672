"""The VS Code client's `protocol.ts` declares the wire types the server's contract module
emits as JSON schema: the same interfaces, the same field names, and no field the server
may leave out declared as always there (nor one the server needs declared as optional)."""

from __future__ import annotations

import re
from pathlib import Path

from modelrouter.lsp import contract

PROTOCOL_TS = Path(__file__).resolve().parents[2] / "clients" / "vscode" / "src" / "protocol.ts"
# Schema name → TypeScript interface name, where they differ.
TS_NAME = {
    "Position": "LspPosition",
    "Range": "LspRange",
    "Settings": "ServerSettings",
    "DoctorResult": "Doctor",
    "Summary": "Stats",
    "GroupRow": "StatsRow",
}
# Sent by the server: a field the client treats as always there must be always sent.
FROM_SERVER = {
    "RunResult",
    "ActionInfo",
    "Status",
    "BackendReport",
    "FixerStatus",
    "DoctorResult",
    "Summary",
    "GroupRow",
    "BackendLatency",
    "EscalationsBy",
    "EscalationRow",
}

INTERFACE = re.compile(r"export interface (\w+) \{\n(.*?)\n\}", re.S)
FIELD = re.compile(r"^\s+(\w+)(\??):", re.M)


def _interfaces(source: str) -> dict[str, dict[str, bool]]:
    """Interface name → {field: optional}."""
    return {
        name: {field: mark == "?" for field, mark in FIELD.findall(body)}
        for name, body in INTERFACE.findall(source)
    }


def test_every_wire_type_has_the_same_fields_on_both_sides():
    declared = _interfaces(PROTOCOL_TS.read_text(encoding="utf-8"))
    for name, shape in contract.schema()["$defs"].items():
        ts = declared.get(TS_NAME.get(name, name))
        assert ts is not None, f"protocol.ts declares no {TS_NAME.get(name, name)}"
        assert set(ts) == set(shape["properties"]), name
        required = set(shape["required"])
        if name in FROM_SERVER:
            always = {field for field, optional in ts.items() if not optional}
            assert always <= required, f"{name}: the server may leave out {always - required}"
        else:
            optional = {field for field, opt in ts.items() if opt}
            assert not (optional & required), f"{name}: the server needs {optional & required}"


def test_command_names_are_the_servers():
    source = PROTOCOL_TS.read_text(encoding="utf-8")
    names = set(re.findall(r"^\s+\w+: '(modelrouter\.\w+)',", source, re.M))
    assert names == set(contract.schema()["commands"])
    (notification,) = re.findall(r"StatusNotification = '([^']+)'", source)
    assert [notification] == contract.schema()["notifications"]


def test_the_interface_reader_sees_optional_fields():
    shapes = _interfaces("export interface A {\n  x: number;\n  y?: string | null;\n}\n")
    assert shapes == {"A": {"x": False, "y": True}}


def test_protocol_ts_holds_only_wire_types():
    source = PROTOCOL_TS.read_text(encoding="utf-8")
    assert not re.search(r"^\s*(export\s+)?(function|class)\b", source, re.M)
    assert not re.search(r"^import\b", source, re.M)
