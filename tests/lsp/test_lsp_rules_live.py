"""The rules file is watched: errors become diagnostics at exact positions, the last good
rules stay in force, and a fixed file is picked up again."""

from __future__ import annotations

import os

from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range, wait_for


async def test_broken_rules_publish_diagnostics_and_keep_last_good_rules(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced("x = 2\n")))
    log_file = tmp_path / "server.log"
    settings = {"logFile": str(log_file)}
    async with editor_session(tmp_path, fake_provider, settings=settings) as editor:
        rules_path = tmp_path / "rules.yaml"
        good = rules_path.read_text()
        uri = editor.open("a.py", "x = 1\n")
        before = await editor.code_actions(uri, lines_range(0, 1))
        assert any(a.data["action"] == "fix-typo" for a in before)

        lines = good.splitlines(keepends=True)
        bad_line = next(i for i, line in enumerate(lines) if "model: tiny-local" in line)
        lines[bad_line] = lines[bad_line].replace("model:", "modle:")
        rules_path.write_text("".join(lines))
        _bump_mtime(rules_path)

        rules_uri = rules_path.resolve().as_uri()
        diags = await wait_for(lambda: editor.client.diagnostics.get(rules_uri))
        (diag,) = diags
        assert diag.range.start.line == bad_line
        assert diag.range.start.character == lines[bad_line].index("modle")
        assert "modle" in diag.message and "model" in diag.message
        await wait_for(lambda: editor.client.messages)
        assert "keeping the last good rules" in editor.client.messages[-1].message

        # The last good rules still answer.
        during = await editor.code_actions(uri, lines_range(0, 1))
        assert [a.title for a in during] == [a.title for a in before]
        doctor = await editor.execute("modelrouter.doctor")
        assert doctor["rules_errors"] and "modle" in doctor["rules_errors"][0]
        result = await editor.execute(
            "modelrouter.run",
            {"action": "fix-typo", "uri": uri, "range": during[0].data["range"]},
        )
        assert result["applied"] is True

        # Fixed: diagnostics clear, a change in the file takes effect.
        rules_path.write_text(good.replace("title: Fix typo", "title: Fix spelling"))
        _bump_mtime(rules_path)
        await wait_for(lambda: list(editor.client.diagnostics.get(rules_uri, [1])) == [])
        after = await editor.code_actions(uri, lines_range(0, 1))
        assert any(a.title.startswith("Fix spelling  ·") for a in after)
    # The log file setting took effect (and nothing needed stdout).
    assert "rules loaded from" in log_file.read_text()


async def test_the_server_asks_the_client_to_watch_the_rules_file(tmp_path, fake_provider):
    async with editor_session(tmp_path, fake_provider) as editor:
        registration = await wait_for(
            lambda: next(
                (r for r in editor.registrations if r.method == "workspace/didChangeWatchedFiles"),
                None,
            )
        )
        (watcher,) = registration.register_options["watchers"]
        assert watcher["globPattern"].endswith("rules.yaml")


def _bump_mtime(path) -> None:
    """Make sure the modification time moves even on coarse-grained file systems."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


async def test_a_server_started_on_broken_rules_says_so_and_recovers(tmp_path, fake_provider):
    from support.lsp import start_editor, write_rules

    rules_path = write_rules(tmp_path / "rules.yaml", fake_provider)
    good = rules_path.read_text()
    rules_path.write_text(good.replace("tiers:", "tiers:\n  broken: [nowhere]", 1))
    root = tmp_path / "ws"
    root.mkdir()
    editor = await start_editor(rules_path, root, tmp_path / "data")
    try:
        rules_uri = rules_path.resolve().as_uri()
        (diag,) = await wait_for(lambda: editor.client.diagnostics.get(rules_uri))
        assert "nowhere" in diag.message
        assert diag.range.start.line == good.splitlines().index("tiers:") + 1
        uri = editor.open("a.py", "x = 1\n")
        assert await editor.code_actions(uri, lines_range(0, 1)) == []
        doctor = await editor.execute("modelrouter.doctor")
        assert doctor["backends"] == [] and "nowhere" in doctor["rules_errors"][0]

        rules_path.write_text(good)
        _bump_mtime(rules_path)
        await wait_for(lambda: list(editor.client.diagnostics.get(rules_uri, [1])) == [])
        actions = await editor.code_actions(uri, lines_range(0, 1))
        assert any(a.data["action"] == "fix-typo" for a in actions)
    finally:
        await editor.stop()
