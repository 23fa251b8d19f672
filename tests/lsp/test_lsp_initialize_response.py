"""The fast `initialize` serialization says exactly what lsprotocol's converter says."""

from __future__ import annotations

import json

from lsprotocol import types
from lsprotocol.converters import get_converter
from modelrouter.lsp.app import create_server
from modelrouter.lsp.server import _plain
from pytest_lsp import client_capabilities


def _initialize(capabilities: types.ClientCapabilities) -> tuple[dict, object]:
    ls = create_server()
    sent: list[bytes] = []

    class Writer:
        def write(self, data: bytes) -> None:
            sent.append(data)

        def close(self) -> None:
            pass

    ls.protocol.set_writer(Writer())
    params = get_converter().unstructure(
        types.InitializeParams(capabilities=capabilities, root_uri="file:///w")
    )
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    ls.protocol.handle_message(ls.protocol.structure_message(message))
    body = b"".join(sent).split(b"\r\n\r\n", 1)[1]
    return json.loads(body), ls


def test_initialize_result_matches_the_standard_converter():
    for caps in (client_capabilities("visual-studio-code"), types.ClientCapabilities()):
        response, ls = _initialize(caps)
        standard = get_converter().unstructure(
            types.InitializeResult(
                capabilities=ls.server_capabilities, server_info=ls.protocol.server_info
            )
        )
        assert response["result"] == json.loads(json.dumps(standard))
        caps_json = response["result"]["capabilities"]
        assert caps_json["codeActionProvider"]["resolveProvider"] is True
        assert "modelrouter.run" in caps_json["executeCommandProvider"]["commands"]
        assert caps_json["hoverProvider"] is True


def test_plain_leaves_out_defaults_and_keeps_required_fields():
    options = types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
    assert (
        _plain(options) == get_converter().unstructure(options) == {"codeActionKinds": ["quickfix"]}
    )
    edit = types.TextEdit(
        range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)), new_text=""
    )
    assert _plain(edit) == get_converter().unstructure(edit)
