"""Hostile editor input to the language server's handlers: bogus command arguments, unknown
URIs, ranges outside the document, huge selections, out-of-range changes.

Each case ends in a result with a clear message (or the correct result) — no exception
escapes a handler, and no edit is applied on a failure. The handlers are driven in-process
for speed; `test_lsp_hostile_requests.py` repeats the key cases through a real LSP client.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from modelrouter.lsp.app import create_server
from modelrouter.lsp.server import ModelRouterServer
from pygls.workspace import Workspace

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
TEXT = "import os\n\n\ndef greet(name):\n    return 'Helo ' + name\n"
ACTIONS = ["fix-typo", "implement", "write-tests", "design", "ask", "nope", ""]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ModelRouterServer:
    tmp = tmp_path_factory.mktemp("lspfuzz")
    rules = tmp / "rules.yaml"
    # Every backend points at a closed port: a request that gets that far fails at once.
    rules.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "backends": {
                    "local": {"type": "ollama", "base_url": "http://127.0.0.1:9", "model": "m"}
                },
                "tiers": {"trivial": ["local"], "feature": ["local"], "debug": ["local"]},
                "default_tier": "feature",
                "actions": {
                    "fix-typo": {"title": "Fix typo", "tier": "trivial", "prompt": "Fix."},
                    "implement": {"title": "Implement", "tier": "feature", "prompt": "Do."},
                    "write-tests": {
                        "title": "Tests",
                        "tier": "debug",
                        "kind": "tests",
                        "prompt": "Test.",
                    },
                    "design": {
                        "title": "Design",
                        "tier": "feature",
                        "kind": "design",
                        "prompt": "Design.",
                    },
                    "ask": {
                        "title": "Ask",
                        "tier": "auto",
                        "needs_instruction": True,
                        "prompt": "Do.",
                    },
                },
            }
        )
    )
    ls = create_server(rules_file=str(rules))
    root = tmp / "ws"
    root.mkdir()
    (root / "greet.py").write_text(TEXT)
    ls.protocol._workspace = Workspace(
        root.as_uri(), position_encoding=types.PositionEncodingKind.Utf16
    )
    ls.own_documents()
    ls.workspace.put_text_document(
        types.TextDocumentItem(
            uri=(root / "greet.py").as_uri(), language_id="python", version=1, text=TEXT
        )
    )
    ls.protocol.client_capabilities = types.ClientCapabilities()
    ls.applied = []  # type: ignore[attr-defined]
    ls.protocol.send_request = _refuse_sends(ls)  # type: ignore[method-assign]
    ls.protocol.notify = lambda *a, **k: None  # type: ignore[method-assign]
    logging.getLogger("pygls").setLevel(logging.CRITICAL)
    return ls


def _refuse_sends(ls: ModelRouterServer):
    def send_request(method: str, params: Any = None, *args: Any, **kw: Any):
        ls.applied.append(method)  # type: ignore[attr-defined]
        raise AssertionError(f"no request to the client expected, got {method}")

    return send_request


def doc_uri(ls: ModelRouterServer) -> str:
    return next(iter(ls.workspace.text_documents))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
positions = st.fixed_dictionaries(
    {
        "line": st.integers(-5, 10**9) | json_scalars,
        "character": st.integers(-5, 10**9) | json_scalars,
    }
)
ranges = st.fixed_dictionaries({"start": positions | json_values, "end": positions | json_values})


def command_args(uri_choices: list[str]) -> st.SearchStrategy[Any]:
    valid_like = st.fixed_dictionaries(
        {},
        optional={
            "action": st.sampled_from(ACTIONS) | json_values,
            "uri": st.sampled_from(uri_choices) | json_values,
            "range": ranges | json_values,
            "instruction": st.text(max_size=20) | json_values,
            "diagnostics": st.lists(json_values, max_size=3) | json_values,
            "position": positions | json_values,
        },
    )
    return valid_like | json_values


_LOOP = asyncio.new_event_loop()  # one loop: the server's connection pool lives on it


def run(ls: ModelRouterServer, coro) -> Any:
    return _LOOP.run_until_complete(coro)


def check_result(ls: ModelRouterServer, result: Any) -> None:
    assert isinstance(result, dict), result
    assert result["applied"] is False
    assert isinstance(result["message"], str) and result["message"].strip()
    assert "Traceback" not in result["message"]
    assert ls.applied == []  # no workspace/applyEdit, no showDocument


URIS = [
    "",
    "file:///nonexistent/dir/x.py",
    "untitled:Untitled-1",
    "https://example.com/a.py",
    "not a uri",
    "file:///etc/passwd",
]


@FUZZ
@given(data=st.data())
def test_bogus_run_arguments_give_a_clear_message(server: ModelRouterServer, data) -> None:
    args = data.draw(command_args([doc_uri(server), *URIS]))
    result = run(
        server, server.jobs.run_command(args if isinstance(args, dict) else {}, redo=False)
    )
    check_result(server, result)


@FUZZ
@given(data=st.data())
def test_bogus_redo_arguments_give_a_clear_message(server: ModelRouterServer, data) -> None:
    args = data.draw(command_args([doc_uri(server), *URIS]))
    result = run(server, server.jobs.run_command(args if isinstance(args, dict) else {}, redo=True))
    check_result(server, result)


@pytest.mark.parametrize(
    "rng",
    [
        {"start": {"line": 10**6, "character": 0}, "end": {"line": 10**6 + 5, "character": 3}},
        {"start": {"line": 0, "character": 10**6}, "end": {"line": 0, "character": 10**7}},
        {"start": {"line": -3, "character": -1}, "end": {"line": 2, "character": 0}},
        {"start": {"line": 4, "character": 0}, "end": {"line": 0, "character": 0}},
        {"start": {"line": 0, "character": 0}, "end": {"line": 10**9, "character": 0}},
    ],
    ids=["after-the-end", "past-line-end", "negative", "reversed", "huge"],
)
def test_ranges_outside_the_document_are_clamped_or_refused(
    server: ModelRouterServer, rng: dict
) -> None:
    args = {"action": "fix-typo", "uri": doc_uri(server), "range": rng}
    check_result(server, run(server, server.jobs.run_command(args, redo=False)))


def test_unknown_documents_are_refused_with_the_reason(server: ModelRouterServer) -> None:
    for uri in URIS:
        result = run(
            server, server.jobs.run_command({"action": "implement", "uri": uri}, redo=False)
        )
        check_result(server, result)


@FUZZ
@given(
    l1=st.integers(0, 2**31 - 1),
    c1=st.integers(0, 2**31 - 1),
    l2=st.integers(0, 2**31 - 1),
    c2=st.integers(0, 2**31 - 1),
    uri=st.sampled_from(URIS[1:]) | st.text(max_size=20),
)
def test_code_actions_and_hover_anywhere_never_fail(
    server: ModelRouterServer, l1: int, c1: int, l2: int, c2: int, uri: str
) -> None:
    from modelrouter.lsp.handlers import list_code_actions

    for target in (uri, doc_uri(server)):
        rng = types.Range(
            start=types.Position(line=l1, character=c1), end=types.Position(line=l2, character=c2)
        )
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=target),
            range=rng,
            context=types.CodeActionContext(diagnostics=[]),
        )
        actions = list_code_actions(server, params)
        assert actions is not None and all(isinstance(a, types.CodeAction) for a in actions)
        assert server.store.at(target, (l1, c1)) is None


@FUZZ
@given(
    changes=st.lists(
        st.tuples(
            st.integers(0, 50),
            st.integers(0, 200),
            st.integers(0, 50),
            st.integers(0, 200),
            st.text(max_size=30),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_out_of_range_changes_keep_provenance_consistent(
    server: ModelRouterServer, changes: list[tuple[int, int, int, int, str]]
) -> None:
    uri = doc_uri(server)
    doc = server.workspace.text_documents[uri]
    version = types.VersionedTextDocumentIdentifier(uri=uri, version=doc.version or 1)
    for l1, c1, l2, c2, text in changes:
        server.store.add(uri, _record((0, 0), (4, 5)))
        rng = types.Range(start=types.Position(l1, c1), end=types.Position(l2, c2))
        change = types.TextDocumentContentChangePartial(range=rng, text=text)
        server.workspace.update_text_document(version, change)
        for r in server.store.records(uri):
            assert r.start < r.end  # empty ranges are dropped, never inverted
    whole = types.TextDocumentContentChangeWholeDocument(text=TEXT)
    server.workspace.update_text_document(version, whole)
    assert server.workspace.text_documents[uri].source == TEXT
    assert server.store.at(uri, (0, 0)) is None


def _record(start: tuple[int, int], end: tuple[int, int]) -> Any:
    from modelrouter.positions import Pos
    from modelrouter.provenance import Record

    return Record("r", Pos(*start), Pos(*end), "local", "m", "trivial", "", "fix-typo")


def test_huge_selection_is_trimmed_or_refused(tmp_path: Path, server: ModelRouterServer) -> None:
    huge = "x = 1\n" * 200_000
    uri = (tmp_path / "huge.py").as_uri()
    server.workspace.put_text_document(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=huge)
    )
    args = {
        "action": "implement",
        "uri": uri,
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 200_000, "character": 0}},
    }
    check_result(server, run(server, server.jobs.run_command(args, redo=False)))


def test_a_range_past_the_end_is_refused_not_clamped(server: ModelRouterServer) -> None:
    rng = {"start": {"line": 10**6, "character": 0}, "end": {"line": 10**6, "character": 3}}
    args = {"action": "fix-typo", "uri": doc_uri(server), "range": rng}
    result = run(server, server.jobs.run_command(args, redo=False))
    assert result["applied"] is False
    assert "past the end of the document" in result["message"]
