"""`modelrouter.run` / `.redo` arguments are parsed in one place: any JSON either becomes
typed arguments or a JobFailed naming the field, never another exception; the settings
refuse values of the wrong type and keep what they had."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelrouter.errors import JobFailed
from modelrouter.lsp.contract import Position, Range, RedoArgs, RunArgs, Settings, parse, schema

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "uri": JSON | st.just("file:///a.py"),
        "action": JSON | st.just("fix-typo"),
        "range": JSON
        | st.just({"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 3}}),
        "position": JSON | st.just({"line": 0, "character": 4}),
        "instruction": JSON,
        "diagnostics": JSON | st.lists(st.text()),
    },
)


@given(raw=JSON | FIELDS, redo=st.booleans())
def test_any_json_parses_or_fails_with_a_message(raw, redo):
    try:
        args = parse(raw, redo=redo)
    except JobFailed as exc:
        assert str(exc).startswith("modelrouter.redo" if redo else "modelrouter.run")
        return
    assert isinstance(args, RedoArgs if redo else RunArgs)
    assert args.uri == raw["uri"]


def test_a_full_run_argument_becomes_typed_fields():
    raw = {
        "action": "fix-typo",
        "uri": "file:///a.py",
        "range": {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}},
        "instruction": "keep it short",
        "diagnostics": ["line 5: E501"],
    }
    assert parse(raw, redo=False) == RunArgs(
        "fix-typo",
        "file:///a.py",
        Range(Position(4, 0), Position(6, 0)),
        "keep it short",
        ("line 5: E501",),
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"uri": "file:///a.py", "position": {"line": -1, "character": 0}}, "'position' must be"),
        ({"uri": "file:///a.py", "position": {"line": True, "character": 0}}, "'position' must be"),
        ({"uri": ""}, "'uri' must be a document URI"),
    ],
)
def test_redo_arguments_name_the_wrong_field(raw, message):
    with pytest.raises(JobFailed, match=message):
        parse(raw, redo=True)


def test_a_setting_of_the_wrong_type_is_refused_and_the_value_kept():
    settings = Settings(design_folder="adr")
    refused = settings.update(
        {"modelrouter": {"confirmEdits": "yes", "designFolder": 3, "logFile": "/tmp/x.log"}}
    )
    assert settings == Settings(design_folder="adr", log_file="/tmp/x.log")
    assert refused == [
        'setting confirmEdits must be true or false, not "yes"; keeping null',
        'setting designFolder must be a path (text), not 3; keeping "adr"',
    ]


def test_the_schema_is_json():
    assert json.loads(json.dumps(schema()))["$defs"]["RunArgs"]["required"] == ["action", "uri"]
