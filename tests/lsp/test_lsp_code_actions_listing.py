"""Code actions are listed per rules action, name what will answer, and touch no network."""

from __future__ import annotations

import time

from lsprotocol import types
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range


async def test_actions_on_a_large_file_name_tier_and_model_without_network(tmp_path, fake_provider):
    async with editor_session(tmp_path, fake_provider) as editor:
        big = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(3400))
        assert big.count("\n") >= 10_000
        uri = editor.open("big.py", big)

        started = time.perf_counter()
        actions = await editor.code_actions(uri, lines_range(5000, 5002))
        elapsed = time.perf_counter() - started
        print(f"codeAction round trip on {big.count(chr(10))} lines: {elapsed * 1000:.1f} ms")

        titles = {a.data["action"]: a.title for a in actions}
        assert titles["fix-typo"] == "Fix typo  ·  trivial → tiny-local (local)"
        assert titles["implement"] == "Implement  ·  feature → cloud-mid (cloud)"
        assert titles["write-tests"] == "Write tests  ·  debug → strong-coder (strong)"
        assert titles["ask"].startswith("Ask…  ·  auto")

        locked = next(a for a in actions if a.data["action"] == "frontier-review")
        assert locked.disabled is not None
        assert "MODELROUTER_TEST_KEY_NEVER_SET" in locked.disabled.reason
        # Also in the title: VS Code shows a disabled action's reason only on hover.
        assert locked.title.endswith("unavailable: locked: set MODELROUTER_TEST_KEY_NEVER_SET")
        assert locked.command is None

        fix = next(a for a in actions if a.data["action"] == "fix-typo")
        assert fix.command is not None and fix.command.command == "modelrouter.run"
        assert fix.command.arguments[0]["range"]["start"] == {"line": 5000, "character": 0}
        assert fix.data["uri"] == uri

        # Listing is pure bookkeeping: the provider never heard from us.
        assert fake_provider.requests == []


async def test_resolve_returns_the_run_command_without_calling_a_model(tmp_path, fake_provider):
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("a.py", "x = 1\n")
        actions = await editor.code_actions(uri, lines_range(0, 1))
        fix = next(a for a in actions if a.data["action"] == "fix-typo")
        fix.command = None
        resolved = await editor.client.code_action_resolve_async(fix)
        assert resolved.command.command == "modelrouter.run"
        assert resolved.command.arguments[0]["action"] == "fix-typo"
        assert fake_provider.requests == []


async def test_actions_command_lists_every_action_with_its_backend(tmp_path, fake_provider):
    async with editor_session(tmp_path, fake_provider) as editor:
        listed = await editor.execute("modelrouter.actions")
        by_id = {a["id"]: a for a in listed}
        assert by_id["fix-typo"]["backend"] == "local"
        assert by_id["fix-typo"]["model"] == "tiny-local"
        assert by_id["fix-typo"]["disabled"] is None
        assert "MODELROUTER_TEST_KEY_NEVER_SET" in by_id["frontier-review"]["disabled"]
        assert by_id["ask"]["needs_instruction"] is True


async def test_minimal_clients_get_plain_actions_and_capable_ones_get_llm_tags(
    tmp_path, fake_provider
):
    """A client without `disabledSupport` sees an unavailable action with the reason in its
    title (it cannot grey it out), and choosing it changes nothing; one that
    supports the LlmGenerated tag gets it; one without change-annotation support gets plain
    text edits."""
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=["", "quickfix"])
                ),
                tag_support=types.CodeActionTagOptions(
                    value_set=[types.CodeActionTag.LlmGenerated]
                ),
            )
        )
    )
    fake_provider.default("local", Reply(text=fenced("x = 2\n")))
    async with editor_session(tmp_path, fake_provider, capabilities=caps) as editor:
        uri = editor.open("a.py", "x = 1\n")
        actions = await editor.code_actions(uri, lines_range(0, 1))
        ids = {a.data["action"] for a in actions}
        assert {"fix-typo", "frontier-review"} <= ids
        locked = next(a for a in actions if a.data["action"] == "frontier-review")
        assert locked.disabled is None
        assert locked.title.endswith("unavailable: locked: set MODELROUTER_TEST_KEY_NEVER_SET")
        refused = await editor.execute("modelrouter.run", locked.command.arguments[0])
        assert refused["applied"] is False
        assert "MODELROUTER_TEST_KEY_NEVER_SET" in refused["message"]
        assert editor.applied == [] and fake_provider.requests == []
        assert all(list(a.tags) == [types.CodeActionTag.LlmGenerated] for a in actions)
        ask = next(a for a in actions if a.data["action"] == "ask")
        assert ask.data["needs_instruction"] is True
        result = await editor.execute("modelrouter.run", actions[0].command.arguments[0])
        assert result["applied"] is True
        (change,) = editor.applied[0].edit.document_changes
        assert type(change.edits[0]) is types.TextEdit
        assert editor.applied[0].edit.change_annotations is None
        assert editor.text(uri) == "x = 2\n"
