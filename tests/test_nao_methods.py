"""Pure NAO, the nao+mutation hybrid and SemiNAS on a table; the benchmark protocol's statistics and regret."""

from __future__ import annotations

import json

import pytest
from test_search import TINY_CONTROLLER, write_table

from nao_tf.search.config import NaoConfig, SemiNasConfig
from nao_tf.search.loop import Search
from nao_tf.search.nao import NaoMethod, NaoMutationMethod
from nao_tf.search.tabular import TableEvaluator
from nao_tf.spaces import NB201

pytest.importorskip("tensorflow")

NAO = {"initial_pool": 8, "per_round": 6, "top_k": 6}


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    return TableEvaluator(write_table(tmp_path_factory.mktemp("nao") / "t.csv"))


def check_pure_nao(search, method, budget):
    """What makes a search pure NAO: the budget is spent; round 0 is random, every later query comes from a
    gradient step (possibly with more seeds, larger steps or noise), none from mutation; every round trained
    the controller and generated something."""
    assert len(search.history) == budget, f"search stopped at {len(search.history)} of {budget} queries"
    for rec in search.records:
        if rec["step"] == 0:
            assert rec["source"] == "random"
        else:
            assert rec["source"].startswith("gradient("), rec["source"]
    assert method.log and all(r["generated"] > 0 and r["filled"] == 0 for r in method.log)


def _pure(evaluator, budget=26, seed=0):
    method = NaoMethod(NaoConfig(**NAO), TINY_CONTROLLER)
    search = Search(method, evaluator, budget, seed=seed)
    search.run()
    return search, method


def test_pure_nao_queries_come_from_the_initial_pool_or_the_gradient_step(evaluator):
    search, method = _pure(evaluator)
    check_pure_nao(search, method, 26)


def test_a_generator_that_returns_nothing_fails_the_pure_nao_check(evaluator, monkeypatch):
    from nao_tf.controller.generation import GenerationResult, Generator

    monkeypatch.setattr(Generator, "generate", lambda self, *a, **k: GenerationResult())
    search, method = _pure(evaluator)
    with pytest.raises(AssertionError):
        check_pure_nao(search, method, 26)
    assert search.result().status == "exhausted" and len(search.history) == NAO["initial_pool"]


def test_pure_nao_searches_harder_instead_of_mutating(evaluator, monkeypatch):
    """When the plain gradient step finds nothing new, pure NAO still fills its rounds, from larger steps,
    more seeds or perturbed embeddings; the hybrid fills them with mutations and says so."""
    from nao_tf.controller.generation import GenerationResult, Generator

    plain = Generator.generate

    def only_perturbed(self, seeds, n_new, **kw):  # the configured step sizes from the top-k find nothing
        if kw.get("noise", 0.0) == 0.0 and len(seeds) <= NAO["top_k"] and kw["step_sizes"][0] <= 1.0:
            return GenerationResult()
        return plain(self, seeds, n_new, **kw)

    monkeypatch.setattr(Generator, "generate", only_perturbed)
    search, method = _pure(evaluator, budget=20)
    check_pure_nao(search, method, 20)
    assert all(r["attempts"] >= 2 for r in method.log)
    assert any("eta=" in rec["source"] and ("seeds=" in rec["source"] or "noise=" in rec["source"] or
               float(rec["source"].split("eta=")[1].split(",")[0].rstrip(")")) > 10)
               for rec in search.records[NAO["initial_pool"]:])

    monkeypatch.setattr(Generator, "generate", lambda self, *a, **k: GenerationResult())
    hybrid = NaoMutationMethod(NaoConfig(**NAO), TINY_CONTROLLER)
    hs = Search(hybrid, evaluator, 20, seed=0)
    hs.run()
    assert len(hs.history) == 20 and hybrid.describe()["name"] == "nao+mutation"
    assert {r["source"] for r in hs.records[NAO["initial_pool"]:]} == {"mutate"}


def test_seminas_retrains_on_pseudo_labels_and_generates_by_gradient(evaluator):
    from nao_tf.search.seminas import SemiNasMethod

    method = SemiNasMethod(NaoConfig(**NAO), SemiNasConfig(pseudo_labels=40, pseudo_weight=0.3), TINY_CONTROLLER)
    search = Search(method, evaluator, 20, seed=1)
    search.run()
    check_pure_nao(search, method, 20)
    assert all(r["pseudo_labelled"] == 40 for r in method.log)
    assert method.describe()["pseudo_weight"] == 0.3
    evaluated = {e.arch for e in search.history}
    assert not evaluated & set(method.sources)  # pseudo-labelled archs never pass as proposals


def test_each_method_has_its_own_random_stream():
    from nao_tf.benchmarks.nb201 import stream_seed

    seeds = {label: stream_seed(label, 3) for label in ("nao", "seminas", "re", "re-10-3", "rs")}
    assert len(set(seeds.values())) == len(seeds) and stream_seed("re", 3) == seeds["re"]
    assert stream_seed("re", 4) != seeds["re"]


def test_benchmark_regret_against_a_known_answer(cli, tmp_path):
    """A hand-made table: every cell has validation 50 and test 60, except one with validation 10 and test 99
    (the best test in the table, worst validation). Whatever a method queries, from its second query on its
    best-by-validation cell has test 60: the regret is exactly 39 (picking by test would give 0, and regret
    against the best validation cell's own test would give 0 too)."""
    import itertools

    best = (1, 2, 3, 4, 0, 1)
    lines = ["cellstr,acc-val,acc-test"]
    for values in itertools.product(range(5), repeat=6):
        val, test = (10, 99) if values == best else (50, 60)
        lines.append(f"{NB201.format(NB201.make(values), 'readable')},{val},{test}")
    path = tmp_path / "hand.csv"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli("benchmark", "nb201", "--table", path, "--methods", "rs,re-10-3", "--budgets", "2,30",
                         "--seeds", 4, "--metric", "acc-val", "--report-metric", "acc-test", "--out",
                         tmp_path / "b", "--quiet")
    assert code == 0, err
    results = json.loads(out)["results"]
    assert results["best_test_in_table"] == 99
    for q in ("2", "30"):
        for label in ("rs", "re-10-3"):
            row = results["by_budget"][q][label]
            assert row["test_regret"] == {"mean": 39.0, "sem": 0.0, "n": 4}
            assert row["search_metric"]["mean"] == 50
    assert results["query_sources"]["rs"] == {"random": 1.0}
    assert set(results["query_sources"]["re-10-3"]) <= {"random", "mutation"}
    curves = json.loads((tmp_path / "b" / "curves.json").read_text())["curves"]
    assert all(len(c) == 4 and all(len(run) == 30 for run in c) for c in curves.values())
