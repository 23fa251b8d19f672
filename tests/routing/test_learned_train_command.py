"""`modelrouter train`: rebuild weights reproducibly; fine-tune a personal model from history;
`modelrouter eval --model` compares shipped and personal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from modelrouter import learned
from modelrouter.cli import main
from modelrouter.rules import default_rules_path

RULES = str(default_rules_path())
ROWS = [
    ("fix typo in {}", "trivial"),
    ("reword the {} docs", "trivial"),
    ("add {} option", "feature"),
    ("support {} flag", "feature"),
    ("crash in {} on start", "debug"),
    ("{} test fails on windows", "debug"),
    ("redesign the {} layer", "architecture"),
    ("split {} into services", "architecture"),
]
NOUNS = ["parser", "cache", "router", "session"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("MODELROUTER_DATA_DIR", str(d))
    return d


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_train_writes_reproducible_weights(tmp_path, data_dir, capsys):
    src = write_jsonl(
        tmp_path / "train.jsonl",
        [
            {"prompt": p.format(n), "tier": t, "source": f"{n} (commit)"}
            for p, t in ROWS
            for n in NOUNS
        ],
    )
    a, b = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    assert main(["train", "--rules", RULES, str(src), "--out", str(a)]) == 0
    out = capsys.readouterr().out
    assert "grouped by repository" in out and "calibration" in out
    assert main(["train", "--rules", RULES, str(src), "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    model = learned.load(a)
    assert model.predict("crash in the logger on start").tier == "debug"


def test_train_rejects_unknown_tier_with_file_and_line(tmp_path, data_dir, capsys):
    src = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"prompt": "x", "tier": "trivial"}, {"prompt": "y", "tier": "galactic"}],
    )
    assert main(["train", "--rules", RULES, str(src), "--out", str(tmp_path / "w.json")]) == 2
    err = capsys.readouterr().err
    assert f"{src}:2" in err and "galactic" in err


def test_from_history_needs_enough_corrections(data_dir, capsys):
    assert main(["train", "--rules", RULES, "--from-history"]) == 1
    assert "0 correction(s)" in capsys.readouterr().err


def test_from_history_builds_a_personal_model_used_first(tmp_path, data_dir, capsys):
    shipped = learned.load(learned.shipped_weights_path())
    # The user keeps escalating requests about their build system to architecture.
    prompts = [f"tweak the zorblat build step {i}" for i in range(8)]
    data_dir.mkdir(parents=True)
    lines = [{"prompt": p, "tier": "architecture", "source": "redo"} for p in prompts]
    lines.append({"prompt": "", "tier": "debug", "source": "override"})  # ignored: empty
    log = data_dir / "overrides.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"torn', encoding="utf-8")

    assert main(["train", "--rules", RULES, "--from-history"]) == 0
    out = capsys.readouterr().out
    assert "fine-tuned on 8 correction(s)" in out
    personal_path = learned.personal_weights_path()
    assert personal_path.is_file()
    assert learned.default_model().source == str(personal_path)

    personal = learned.load(personal_path)
    probe = "tweak the zorblat build step 99"
    before = shipped.predict_proba(probe)[3]
    after = personal.predict_proba(probe)[3]
    assert after > before
    # General knowledge survives the fine-tune.
    assert (
        personal.predict("segfault when the socket closes").tier
        == shipped.predict("segfault when the socket closes").tier
    )

    evalset = write_jsonl(tmp_path / "eval.jsonl", [{"prompt": probe, "tier": "architecture"}])
    for which in ("shipped", "personal"):
        assert main(["eval", "--rules", RULES, str(evalset), "--model", which, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["n"] == 1


def test_eval_personal_without_a_personal_model_says_so(tmp_path, data_dir, capsys):
    evalset = write_jsonl(tmp_path / "e.jsonl", [{"prompt": "x", "tier": "trivial"}])
    assert main(["eval", "--rules", RULES, str(evalset), "--model", "personal"]) == 2
    assert "train --from-history" in capsys.readouterr().err


def test_from_history_reads_redo_and_override_labels_from_the_ledger(data_dir, capsys):
    from modelrouter.ledger import Ledger, RequestRecord, default_path

    ledger = Ledger(default_path())
    try:
        first = ledger.record(RequestRecord(tier="feature", prompt=None))
        for i in range(4):
            ledger.record(
                RequestRecord(tier="debug", redo_of=first, prompt=f"flaky quux handshake {i}")
            )
        ledger.record(
            RequestRecord(tier="architecture", tier_override="architecture", prompt="plan quux")
        )
        # Failed requests and unlabelled ones teach nothing.
        ledger.record(
            RequestRecord(
                tier="trivial", tier_override="trivial", status="failed", prompt="ignored failure"
            )
        )
    finally:
        ledger.close()
    assert main(["train", "--rules", RULES, "--from-history", "--min-examples", "5"]) == 0
    out = capsys.readouterr().out
    assert "fine-tuned on 5 correction(s)" in out and str(default_path()) in out
    assert learned.personal_weights_path().is_file()
