"""Model-written ranges move with edits and persist per exact file content."""

from __future__ import annotations

from modelrouter.positions import Pos, end_after
from modelrouter.provenance import ProvenanceStore, Record

URI = "file:///w/a.py"


def _record(start, end) -> Record:
    return Record(
        id="r1", start=start, end=end, backend="local", model="m", tier="trivial",
        reason="because", action="fix-typo",
    )  # fmt: skip


def _store(tmp_path, start=(3, 0), end=(5, 10)) -> ProvenanceStore:
    store = ProvenanceStore(tmp_path)
    store.add(URI, _record(start, end))
    return store


def test_lines_typed_above_shift_the_range(tmp_path):
    store = _store(tmp_path)
    store.apply_change(URI, (0, 0), (0, 0), end_after(Pos(0, 0), "a\nb\n"))
    (r,) = store.records(URI)
    assert (r.start, r.end) == ((5, 0), (7, 10))


def test_typing_on_the_last_line_before_the_end_moves_the_end_column(tmp_path):
    store = _store(tmp_path)
    store.apply_change(URI, (5, 2), (5, 2), end_after(Pos(5, 2), "xyz"))
    (r,) = store.records(URI)
    assert (r.start, r.end) == ((3, 0), (5, 13))


def test_typing_after_the_range_or_at_its_end_leaves_it(tmp_path):
    store = _store(tmp_path)
    store.apply_change(URI, (5, 10), (5, 10), end_after(Pos(5, 10), "tail"))
    store.apply_change(URI, (9, 0), (9, 0), end_after(Pos(9, 0), "later\n"))
    (r,) = store.records(URI)
    assert (r.start, r.end) == ((3, 0), (5, 10))


def test_text_typed_at_the_start_is_not_model_written(tmp_path):
    store = _store(tmp_path)
    store.apply_change(URI, (3, 0), (3, 0), end_after(Pos(3, 0), "# mine\n"))
    (r,) = store.records(URI)
    assert r.start == (4, 0)


def test_deleting_the_whole_range_forgets_it(tmp_path):
    store = _store(tmp_path)
    store.apply_change(URI, (2, 0), (6, 0), end_after(Pos(2, 0), ""))
    assert store.records(URI) == []


def test_deleting_across_the_start_clips_it(tmp_path):
    store = _store(tmp_path)
    store.apply_change(URI, (2, 0), (4, 0), end_after(Pos(2, 0), ""))
    (r,) = store.records(URI)
    assert (r.start, r.end) == ((2, 0), (3, 10))


def test_a_full_text_change_cannot_be_followed(tmp_path):
    store = _store(tmp_path)
    store.apply_change(URI, None, None, Pos(0, 14))
    assert store.records(URI) == []


def test_saved_records_return_only_for_the_same_text(tmp_path):
    store = _store(tmp_path)
    store.save(URI, "the text\n")
    fresh = ProvenanceStore(tmp_path)
    assert fresh.load(URI, "other text\n") == 0
    assert fresh.at(URI, (4, 0)) is None
    assert fresh.load(URI, "the text\n") == 1
    assert fresh.at(URI, (4, 0)).model == "m"


def test_hover_text_names_model_tier_reason_and_cost(tmp_path):
    r = _record((0, 0), (1, 0))
    r.fallbacks = ["cloud failed (rate_limit: 429)"]
    r.cost_usd, r.top_tier_cost_usd, r.redactions = 0.001, 0.05, 2
    text = r.markdown()
    for part in (
        "`m`",
        "`local`",
        "trivial",
        "because",
        "cloud failed",
        "$0.0010",
        "saved",
        "2 secret",
    ):
        assert part in text


def test_saved_records_are_readable_by_the_user_alone(tmp_path):
    import stat

    store = ProvenanceStore(tmp_path / "provenance")
    store.add(URI, _record((0, 0), (0, 5)))
    store.save(URI, "x = 1\n")
    (saved,) = (tmp_path / "provenance").glob("*.json")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "provenance").stat().st_mode) == 0o700
