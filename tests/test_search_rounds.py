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
        {"round": 0, "queries": 3, "random": 3, "recorded_mean": 0.4, "recorded_best": 0.5},
        {"round": 1, "queries": 2, "random": 1, "recorded_mean": 0.4, "recorded_best": 0.6},
        {"round": 2, "queries": 2, "random": 0, "recorded_mean": 0.4, "recorded_best": 0.7},
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
    assert out["rounds"][0]["recorded_mean"] == 0.3 and out["rounds"][0]["recorded_best"] == 0.3
    assert out["proposals_mean"] is None and out["proposals_beat_random"] is None
    assert out["top_from_search"] == 0 and out["top_from_search_by_chance"] == 0.0


def test_final_scores_rescore_only_what_older_weights_scored():
    """After the search, architectures scored with the final weights (the last round's) keep their scores;
    the others are scored again, and the scores the re-ranking reads are left alone."""
    import numpy as np

    from nao_tf.search.config import WsConfig
    from nao_tf.search.weight_sharing import WeightSharingEvaluator
    from nao_tf.spaces import get_space

    a, b, c = get_space("nasnet-ws").sample(np.random.default_rng(5), 3)
    ev = WeightSharingEvaluator(WsConfig(valid_size=200, eval_images=64, channels=4, batch_size=16))
    scored = []
    weights = {"w": 0.25}  # stands for the supernet's weights: what a score taken now gives
    ev.score = lambda archs: [scored.append(x) or weights["w"] for x in archs]
    ev.pool, ev.total_steps = [a], 10
    ev.evaluate([a, b])
    weights["w"], ev.total_steps = 0.75, 20  # the supernet trained on
    ev.evaluate([c])
    scored.clear()
    assert ev.final_scores([a, b, c, a]) == [0.75, 0.75, 0.75, 0.75]
    assert scored == [a, b]  # c was already scored with these weights, a is scored once
    assert ev.scores == {a: 0.25, b: 0.25, c: 0.75}
    # the round's snapshot keeps when each score was taken, so a resumed search reuses them too
    ev.round, ev._trainer = 0, type("NoWeights", (), {"get_state": lambda self: []})()
    assert sorted(n for _, n in ev.get_state()["scored_at"]) == [10, 10, 20]


def test_rounds_png_draws_the_sections_rows(tmp_path, monkeypatch):
    """rounds.png plots what final.json says: best so far, recorded means and, with them, final-supernet means."""
    import matplotlib.axes

    from nao_tf.search.final import write_rounds_png

    drawn = []
    original = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda self, x, y, *a, **k: drawn.append((k["label"], list(x), list(y))) or original(
                            self, x, y, *a, **k))
    rows = rounds_section(RECORDS, [0.50, 0.60, 0.70, 0.40, 0.50, 0.45, 0.30])["rounds"]
    write_rounds_png(tmp_path / "rounds.png", rows)
    assert (tmp_path / "rounds.png").read_bytes()[:4] == b"\x89PNG"
    assert drawn == [("best so far", [0, 1, 2], [0.5, 0.6, 0.7]), ("round mean", [0, 1, 2], [0.4, 0.4, 0.4]),
                     ("round mean, final supernet", [0, 1, 2], [0.6, 0.45, 0.375])]
    drawn.clear()
    write_rounds_png(tmp_path / "plain.png", rounds_section(RECORDS)["rounds"])
    assert [label for label, *_ in drawn] == ["best so far", "round mean"]
