"""The protocol surface clients build on: commands, settings, quick fixes, status."""

from __future__ import annotations

import asyncio
import socket
import sys

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range

SOURCE = "def f(x):\n    return x +\n"
FIXED = "def f(x):\n    return x + 1\n"
RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}


async def test_doctor_status_and_stats_report_the_server_state(tmp_path, fake_provider):
    fake_provider.default("cloud", Reply(text=fenced(FIXED), input_tokens=1000))
    async with editor_session(tmp_path, fake_provider) as editor:
        doctor = await editor.execute("modelrouter.doctor")
        assert doctor["rules_file"].endswith("rules.yaml") and doctor["rules_errors"] == []
        by_name = {b["name"]: b for b in doctor["backends"]}
        assert by_name["cloud"]["usable"] is True and by_name["cloud"]["model"] == "cloud-mid"
        assert by_name["locked"]["usable"] is False
        assert "MODELROUTER_TEST_KEY_NEVER_SET" in by_name["locked"]["reason"]

        idle = await editor.execute("modelrouter.status")
        assert idle["working"] is False and idle["last_backend"] is None

        uri = editor.open("f.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run", {"action": "implement", "uri": uri, "range": RANGE}
        )
        assert result["applied"] is True

        status = await editor.execute("modelrouter.status")
        assert (status["last_backend"], status["last_model"]) == ("cloud", "cloud-mid")
        assert status["spend_today_usd"] > 0
        stats = await editor.execute("modelrouter.stats", {"since": "7d"})
        assert stats["requests"] == 1
        assert stats["spend_usd"] == status["spend_today_usd"]


async def test_quick_fix_is_offered_on_diagnostics_and_sends_them_to_the_model(
    tmp_path, fake_provider
):
    fake_provider.default("strong", Reply(text=fenced(FIXED)))
    rules_kw = {
        "tiers": {
            "trivial": ["local"],
            "feature": ["cloud"],
            "debug": ["strong"],
            "architecture": ["strong"],
            "locked-tier": ["locked"],
        }
    }
    async with editor_session(tmp_path, fake_provider, **rules_kw) as editor:
        uri = editor.open("f.py", SOURCE)
        diag = types.Diagnostic(
            range=types.Range(
                start=types.Position(line=1, character=11),
                end=types.Position(line=1, character=12),
            ),
            message="expected expression",
            source="pyright",
            severity=types.DiagnosticSeverity.Error,
        )
        without = await editor.code_actions(uri, lines_range(1, 2))
        assert not any(a.kind == types.CodeActionKind.QuickFix for a in without)
        with_diag = await editor.code_actions(uri, lines_range(1, 2), [diag])
        (fix,) = [a for a in with_diag if a.kind == types.CodeActionKind.QuickFix]
        assert fix.title == "Fix diagnostic  ·  debug → strong-coder (strong)"
        assert list(fix.diagnostics) == [diag]
        assert fix.data["diagnostics"] == ["line 2: pyright: expected expression"]
        result = await editor.execute("modelrouter.run", *fix.command.arguments)
        assert result["applied"] is True
        assert editor.text(uri) == FIXED
        (request,) = fake_provider.requests_to("strong")
        (block,) = request.body["messages"][-1]["content"]  # Anthropic content blocks
        prompt = block["text"]
        assert "Diagnostics in the selection:\n- line 2: pyright: expected expression" in prompt


async def test_confirm_edits_from_initialization_options_marks_the_annotation(
    tmp_path, fake_provider
):
    fake_provider.default("cloud", Reply(text=fenced(FIXED)))
    async with editor_session(tmp_path, fake_provider, settings={"confirmEdits": True}) as editor:
        uri = editor.open("f.py", SOURCE)
        await editor.execute("modelrouter.run", {"action": "implement", "uri": uri, "range": RANGE})
        (annotation,) = editor.applied[0].edit.change_annotations.values()
        assert annotation.needs_confirmation is True
        assert annotation.label == "ModelRouter: cloud-mid"


async def test_workspace_configuration_sets_the_design_folder(tmp_path, fake_provider):
    fake_provider.default("strong", Reply(text="# Plan\n\nDo it.\n"))
    async with editor_session(
        tmp_path, fake_provider, configuration={"designFolder": "adr"}
    ) as editor:
        uri = editor.open("f.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run", {"action": "design", "uri": uri, "range": RANGE}
        )
        assert result["applied"] is True
        assert (editor.root / "adr" / "plan.md").read_text() == "# Plan\n\nDo it.\n"


async def test_tcp_mode_serves_a_client_that_connects(tmp_path, fake_provider):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "modelrouter", "lsp", "--tcp", f"127.0.0.1:{port}"
    )
    client = LanguageClient("tcp-test", "1")
    try:
        for _ in range(200):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        result = await client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities())
        )
        assert result.server_info.name == "modelrouter"
        assert "modelrouter.run" in result.capabilities.execute_command_provider.commands
        assert result.capabilities.code_action_provider.resolve_provider is True
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        await client.stop()
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_confirm_edits_that_is_not_true_or_false_is_refused_with_a_warning(
    tmp_path, fake_provider
):
    fake_provider.default("cloud", Reply(text=fenced(FIXED)))
    async with editor_session(tmp_path, fake_provider, settings={"confirmEdits": "yes"}) as editor:
        uri = editor.open("f.py", SOURCE)
        await editor.execute("modelrouter.run", {"action": "implement", "uri": uri, "range": RANGE})
        (annotation,) = editor.applied[0].edit.change_annotations.values()
        assert annotation.needs_confirmation is False  # the rules file's default kept
        warnings = [m.message for m in editor.client.messages if "confirmEdits" in m.message]
        assert warnings == [
            'ModelRouter: setting confirmEdits must be true or false, not "yes"; keeping null'
        ]
