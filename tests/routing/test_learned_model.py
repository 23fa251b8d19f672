"""The learned model: training is reproducible, weights round-trip, bad files fail clearly,
and the decision never routes below the most likely tier."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter import learned, train

TIERS = ["trivial", "feature", "debug", "architecture"]

# Small synthetic corpus with a clear signal per tier; enough for 5-fold CV.
CORPUS = {
    "trivial": [
        "fix typo in {}",
        "rename {} variable",
        "update {} docs wording",
        "bump {} version",
    ],
    "feature": ["add {} option", "support {} flag", "implement {} endpoint", "new {} command"],
    "debug": ["crash in {} on start", "{} test fails", "segfault when {} closes", "{} leaks"],
    "architecture": [
        "redesign {} layer",
        "split {} into services",
        "migrate {} to event bus",
        "rearchitect {} storage",
    ],
}
NOUNS = ["parser", "cache", "router", "session", "logger"]


def corpus() -> list[train.Example]:
    return [
        train.Example(pattern.format(noun), tier, group=noun)
        for tier, patterns in CORPUS.items()
        for pattern in patterns
        for noun in NOUNS
    ]


def quick() -> train.TrainConfig:
    return train.TrainConfig(epochs=60, min_df=1)


@pytest.fixture(scope="module")
def model() -> learned.LearnedModel:
    m, _report = train.train_model(corpus(), TIERS, quick())
    return m


def test_model_learns_the_signal(model: learned.LearnedModel):
    assert model.predict("fix typo in the changelog").tier == "trivial"
    assert model.predict("segfault when the window closes").tier == "debug"
    assert model.predict("split the monolith into services").tier == "architecture"
    probs = model.predict_proba("add a retry option")
    assert abs(sum(probs) - 1.0) < 1e-9
    assert max(probs) == probs[TIERS.index("feature")]


def test_training_is_reproducible(tmp_path: Path):
    a, _ = train.train_model(corpus(), TIERS, quick())
    b, _ = train.train_model(corpus(), TIERS, quick())
    pa, pb = a.save(tmp_path / "a.json.gz"), b.save(tmp_path / "b.json.gz")
    assert pa.read_bytes() == pb.read_bytes()


def test_weights_round_trip(model: learned.LearnedModel, tmp_path: Path):
    for name in ("w.json", "w.json.gz"):
        loaded = learned.load(model.save(tmp_path / name))
        text = "crash in the cache on start"
        assert loaded.tiers == TIERS
        assert loaded.predict_proba(text) == pytest.approx(model.predict_proba(text), abs=1e-3)


def test_cv_report_is_from_unseen_rows():
    _, report = train.train_model(corpus(), TIERS, quick())
    assert report.n == len(corpus())
    assert 0.0 <= report.under_route_rate <= 1.0
    assert sum(n for _b, n, _c, _a in report.calibration) == report.n
    assert report.groups == len(NOUNS) and report.folds == quick().folds
    assert sum(n for n, *_ in report.breakdown.values()) == report.n
    assert 0.0 < report.oracle_saving <= 1.0 and report.saving <= 1.0


def test_cv_folds_never_share_a_repository():
    data = corpus()
    ids = train.fold_ids(data, 5, seed=13)
    fold_of: dict[str, set[int]] = {}
    for e, f in zip(data, ids, strict=True):
        fold_of.setdefault(e.group, set()).add(int(f))
    assert all(len(folds) == 1 for folds in fold_of.values())


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=0, max_size=300))
def test_cached_prediction_equals_the_features_it_was_trained_on(model, text):
    # The run-time model sums each token's weights through a cache; it must score exactly
    # what `features()` (the training view of the request) says.
    vocab = model.vocab
    k = len(model.tiers)
    scores, norm2 = [0.0] * k, 0.0
    for feat, count in learned.features(text, model.char_min, model.char_max).items():
        row = vocab.get(feat)
        if row is not None:
            norm2 += count * row[0] ** 2
            for j in range(k):
                scores[j] += count * row[0] * row[j + 1]
    inv = 1 / norm2**0.5 if norm2 else 0.0
    expected = [s * inv + b for s, b in zip(scores, model.bias, strict=True)]
    for _ in range(2):  # cold, then from the cache
        assert model.logits(text) == pytest.approx(expected, abs=1e-9)


def test_old_personal_model_gives_way_to_the_shipped_one(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MODELROUTER_DATA_DIR", str(tmp_path))
    old = {"format": learned.FORMAT, "version": learned.FORMAT_VERSION - 1, "tiers": TIERS}
    learned.personal_weights_path().write_bytes(gzip.compress(json.dumps(old).encode()))
    model = learned.default_model()
    assert model.source == str(learned.shipped_weights_path())
    assert "personal" in caplog.text and "unsupported" in caplog.text


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "not a readable weights file"),
        (b"{not json", "not a readable weights file"),
        (gzip.compress(b"\x00garbage"), "not a readable weights file"),
        (json.dumps({"format": "other"}).encode(), "not a modelrouter-ngram-lr"),
        (
            json.dumps({"format": learned.FORMAT, "version": 99}).encode(),
            "version 99 unsupported",
        ),
        (
            json.dumps(
                {
                    "format": learned.FORMAT,
                    "version": learned.FORMAT_VERSION,
                    "tiers": ["a", "b"],
                    "bias": [0, 0],
                    "vocab": {"w:x": [1.0, 0.5]},
                }
            ).encode(),
            "malformed",
        ),
    ],
)
def test_bad_weights_file_names_the_file_and_the_problem(tmp_path: Path, content, needle):
    path = tmp_path / "weights.json"
    path.write_bytes(content)
    with pytest.raises(learned.WeightsError) as err:
        learned.load(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_missing_weights_file(tmp_path: Path):
    with pytest.raises(learned.WeightsError, match="no such weights file"):
        learned.load(tmp_path / "nope.json")


probabilities = st.lists(st.floats(0.001, 1.0), min_size=4, max_size=4).map(
    lambda xs: [x / sum(xs) for x in xs]
)


@given(probs=probabilities, penalty=st.floats(1.0, 5.0), below=st.floats(0.0, 1.0))
def test_decision_never_goes_below_the_most_likely_tier(probs, penalty, below):
    d = learned.decide(TIERS, probs, under_penalty=penalty, escalate_below=below)
    best = max(range(4), key=lambda i: (probs[i], i))
    assert TIERS.index(d.tier) >= best
    assert d.predicted == TIERS[best]
    assert (d.tier != d.predicted) == bool(d.escalated)


def test_low_confidence_goes_exactly_one_tier_up():
    probs = [0.05, 0.50, 0.30, 0.15]
    d = learned.decide(TIERS, probs, under_penalty=1.0, escalate_below=0.55)
    assert d.tier == "debug" and "below 0.55" in d.escalated
    sure = learned.decide(TIERS, [0.05, 0.9, 0.03, 0.02], under_penalty=1.0, escalate_below=0.55)
    assert sure.tier == "feature" and not sure.escalated


def test_under_route_risk_moves_the_tier_up():
    # Most likely trivial, but much of the mass is on stronger tiers.
    probs = [0.40, 0.05, 0.30, 0.25]
    d = learned.decide(TIERS, probs, under_penalty=3.0, escalate_below=0.0)
    assert TIERS.index(d.tier) > 0 and "chance it needs" in d.escalated
