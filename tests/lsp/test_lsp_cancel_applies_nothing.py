"""Cancelling a running job stops the model call at once and applies nothing."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, wait_for

SOURCE = "def f():\n    return 1  # teh one\n"
RANGE = {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}
SLOW = Reply(text=fenced("return 1  # the one\n" * 40), chunk_size=2, delay=0.05)


async def _streaming(editor, fake_provider):
    await wait_for(lambda: fake_provider.requests_to("local"))
    await wait_for(lambda: any(len(r) > 2 for r in editor.client.progress_reports.values()))


async def test_cancel_request_mid_stream_applies_nothing(tmp_path, fake_provider):
    fake_provider.default("local", SLOW)
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("one.py", SOURCE)
        params = types.ExecuteCommandParams(
            command="modelrouter.run",
            arguments=[{"action": "fix-typo", "uri": uri, "range": RANGE}],
        )
        pending = asyncio.ensure_future(
            editor.client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="run-to-cancel"
            )
        )
        await _streaming(editor, fake_provider)
        editor.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="run-to-cancel"))
        with pytest.raises(JsonRpcException):
            await pending
        # The HTTP stream was closed: the fake saw the client go away well before the end.
        (request,) = fake_provider.requests_to("local")
        await asyncio.to_thread(request.disconnected.wait, 5)
        assert request.disconnected.is_set()
        await asyncio.sleep(0.3)
        assert editor.applied == []
        assert editor.text(uri) == SOURCE
        status = await editor.execute("modelrouter.status")
        assert status["working"] is False


async def test_cancelling_the_progress_applies_nothing(tmp_path, fake_provider):
    fake_provider.default("local", SLOW)
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("one.py", SOURCE)
        task = asyncio.ensure_future(
            editor.execute("modelrouter.run", {"action": "fix-typo", "uri": uri, "range": RANGE})
        )
        await _streaming(editor, fake_provider)
        (token,) = editor.client.progress_reports
        editor.client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=token)
        )
        result = await task
        assert result["applied"] is False
        assert "cancelled" in result["message"]
        assert editor.applied == []
        assert editor.text(uri) == SOURCE
        assert isinstance(editor.client.progress_reports[token][-1], types.WorkDoneProgressEnd)


async def test_cancel_command_stops_every_running_job(tmp_path, fake_provider):
    fake_provider.default("local", SLOW)
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("one.py", SOURCE)
        task = asyncio.ensure_future(
            editor.execute("modelrouter.run", {"action": "fix-typo", "uri": uri, "range": RANGE})
        )
        await _streaming(editor, fake_provider)
        assert await editor.execute("modelrouter.cancel") == {"cancelled": 1}
        result = await task
        assert result["applied"] is False
        assert editor.applied == []
        assert editor.text(uri) == SOURCE
