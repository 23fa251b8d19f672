"""The VS Code extension's palette offers every shipped action under the name the lightbulb
shows (the rules' title), and its editor context submenu does not need a selection: the
commands work on the cursor line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((REPO / "clients" / "vscode" / "package.json").read_text(encoding="utf-8"))
RULES = yaml.safe_load((REPO / "rules" / "default.yaml").read_text(encoding="utf-8"))
# The lightbulb's own title for the redo action (server/modelrouter/lsp/handlers.py).
REDO = "Redo with a stronger model"


def _palette_titles() -> set[str]:
    return {c["title"] for c in MANIFEST["contributes"]["commands"]}


def test_every_shipped_action_but_the_diagnostic_fix_has_a_palette_command() -> None:
    titles = _palette_titles()
    for action_id, action in RULES["actions"].items():
        if action.get("on_diagnostics"):
            continue  # only meaningful on a diagnostic, from the lightbulb
        assert action["title"] in titles, f"{action_id}: no palette command {action['title']!r}"


def test_palette_and_lightbulb_use_the_same_names() -> None:
    shipped = {a["title"] for a in RULES["actions"].values()} | {REDO}
    menu = {m["command"] for m in MANIFEST["contributes"]["menus"]["modelrouter.editorContext"]}
    for command in MANIFEST["contributes"]["commands"]:
        if command["command"] in menu:
            assert command["title"] in shipped, command


def test_the_context_submenu_needs_no_selection() -> None:
    (entry,) = MANIFEST["contributes"]["menus"]["editor/context"]
    assert entry["submenu"] == "modelrouter.editorContext"
    assert "editorHasSelection" not in entry.get("when", "")
