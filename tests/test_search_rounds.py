"""``search_vs_random`` in final.json: the search's proposals against its random draws, on a hand-made history
with a known answer (and on the final supernet's scores when they are given)."""

from __future__ import annotations

import pytest

from nao_tf.search.final import rounds_section


def _rec(step: int, source: str, score: float) -> dict:
    return {"step": step, "source": source, "score": score}


RECORDS = [_rec(0, "random", 0.30), _rec(0, "random", 0.50), _rec(0, "random", 0.40),
           _rec(1, "gradient(eta=3)", 0.60), _rec(1, "random", 0.20),
           _rec(2, "screened(eta=1)", 0.70), _rec(2, "gradient(eta=3)", 0.10)]


def test_recorded_scores_compare_proposals_with_random_draws():
    out = rounds_section(RECORDS, top=3)
    assert out["scored_by"] == "recorded score"
    assert out["rounds"] == [
        {"round": 0, "queries": 3, "random": 3, "recorded_mean": 0.4},
        {"round": 1, "queries": 2, "random": 1, "recorded_mean": 0.4},
        {"round": 2, "queries": 2, "random": 0, "recorded_mean": 0.4},
    ]
    # random draws 0.30 0.50 0.40 0.20 -> 0.35; proposals 0.60 0.70 0.10 -> 0.4667
    assert out["random_mean"] == 0.35 and out["proposals_mean"] == pytest.approx(0.4667)
    assert out["proposals_beat_random"] is True
    # the top 3 are 0.70 (screened), 0.60 (gradient), 0.50 (random); 3 of 7 are proposals
    assert out["top"] == 3 and out["top_from_search"] == 2 and out["top_from_search_by_chance"] == 1.3


def test_final_scores_decide_when_given():
    """A supernet that trained between rounds flatters later rounds; the final one's scores are what counts."""
    final = [0.50, 0.60, 0.70, 0.40, 0.50, 0.45, 0.30]
    out = rounds_section(RECORDS, final, top=2)
    assert out["scored_by"] == "final supernet"
    assert [r["final_mean"] for r in out["rounds"]] == [0.6, 0.45, 0.375]
    assert [r["recorded_mean"] for r in out["rounds"]] == [0.4, 0.4, 0.4]
    assert out["random_mean"] == pytest.approx(0.575) and out["proposals_mean"] == pytest.approx(0.3833)
    assert out["proposals_beat_random"] is False and out["top_from_search"] == 0


def test_nothing_to_compare_without_proposals_and_nan_scores_are_skipped():
    out = rounds_section([_rec(0, "random", 0.3), _rec(0, "random", float("nan"))])
    assert out["rounds"][0]["recorded_mean"] == 0.3
    assert out["proposals_mean"] is None and out["proposals_beat_random"] is None
    assert out["top_from_search"] == 0 and out["top_from_search_by_chance"] == 0.0
