"""The search driver, NAO / RE / RS, the table evaluator, run folders, resume, and `nao-tf search`."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from nao_tf.errors import ConfigError, DataError
from nao_tf.search.config import NaoConfig, resolve
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.search.evolution import RegularizedEvolution
from nao_tf.search.loop import Search
from nao_tf.search.nao import NaoMethod
from nao_tf.search.random_search import RandomSearch
from nao_tf.search.registry import build_method
from nao_tf.search.tabular import TableEvaluator
from nao_tf.spaces import NB201

TINY_CONTROLLER = {"embedding_size": 8, "hidden_size": 16, "mlp_layers": 1, "mlp_hidden": 16, "epochs": 4,
                   "batch_size": 32, "jit_compile": False, "generate_jit": False, "etas_per_call": 5}
TINY_NAO = {"initial_pool": 8, "per_round": 4, "top_k": 6, "controller": TINY_CONTROLLER}


def make_method(name, nao_settings=None):
    """A method from the configuration tree (the nb201 preset plus ``nao_settings``), through the registry."""
    nao = dict(nao_settings or {})
    controller = nao.pop("controller", {})
    return build_method(resolve(preset="nb201", overrides={"method": {"name": name, "nao": nao},
                                                           "controller": controller}))


def _synthetic_value(values):
    """A smooth, deterministic accuracy of a cell: convolutions help, 'none' hurts."""
    return 40 + 7 * values.count(3) + 4 * values.count(2) + 1.5 * values.count(1) + 0.37 * values[5] - \
        3 * values.count(0)


def write_table(path, rows=None, columns=("index", "cellstr", "cifar10-val", "cifar10-test")):
    archs = [NB201.make(v) for v in itertools.product(range(5), repeat=6)] if rows is None else rows
    lines = [",".join(columns)]
    for i, a in enumerate(archs):
        val = _synthetic_value(a.values)
        lines.append(f"{i},{NB201.format(a, 'readable')},{val:.3f},{val + 0.5 * math.sin(i):.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The shared NB201 table when ../shared exists, else a full synthetic table written here."""
    from conftest import SHARED_NB201

    if SHARED_NB201.exists():
        return SHARED_NB201
    return write_table(tmp_path_factory.mktemp("nb201") / "nb201.csv")


@pytest.fixture(scope="module")
def evaluator(table):
    return TableEvaluator(table)


def test_table_evaluator(evaluator):
    arch = NB201.make([3, 3, 3, 3, 3, 3])
    (ev,) = evaluator.evaluate([arch])
    assert ev.arch == arch and ev.score > 0 and "cifar10-test" in ev.metadata
    report = evaluator.report(ev)
    best_test = report["cifar10-test_best_in_table"]
    assert report["cifar10-test_regret"] == pytest.approx(best_test - ev.metadata["cifar10-test"])
    assert len(evaluator.table.archs) == 15625


@pytest.mark.parametrize("name", ["rs", "re"])
def test_baselines_spend_exactly_the_budget_on_distinct_archs(evaluator, name):
    result = Search(make_method(name), evaluator, 40, seed=1).run()
    archs = [e.arch for e in result.history]
    assert len(archs) == 40 == len(set(archs)) and result.status == "done"
    assert result.best.score == max(e.score for e in result.history)
    assert result.best_so_far == sorted(result.best_so_far)


def test_regularized_evolution_mutates_population_members(evaluator):
    method = RegularizedEvolution(population=5, sample_size=2)
    search = Search(method, evaluator, 20, seed=0)
    search.run()
    assert len(method.population) == 5
    pop = {tuple(v) for v, _ in method.population}
    for rec in search.records[5:]:
        assert rec["source"] in ("mutate", "random")
    assert pop <= {e.arch.values for e in search.history}


def test_nao_search_toy(evaluator):
    method = NaoMethod(NaoConfig(**{k: v for k, v in TINY_NAO.items() if k != "controller"}), TINY_CONTROLLER)
    result = Search(method, evaluator, 20, seed=0).run()
    assert len({e.arch for e in result.history}) == 20
    assert [r["step"] for r in method.log] == [1, 2, 3]
    assert all(r["generated"] + r["filled"] == 4 for r in method.log)


class _MinEvaluator(Evaluator):
    """Minimize the number of conv ops; refuse cells with a 3x3 conv on the first edge."""

    name = "toy-min"

    def __init__(self):
        super().__init__(NB201, "min")
        self.calls = []

    def evaluate(self, archs):
        self.calls.append(list(archs))
        return [Evaluation(a, float(a.values.count(3) + a.values.count(2)), {"n": 1}) for a in archs]

    def allowed(self, arch):
        return True if arch.values[0] != 3 else "first edge may not be a 3x3 conv"


@pytest.mark.parametrize("name", ["nao", "re", "rs"])
def test_minimization_and_constraints(name):
    ev = _MinEvaluator()
    result = Search(make_method(name, nao_settings=TINY_NAO), ev, 16, seed=2).run()
    assert all(e.arch.values[0] != 3 for e in result.history)
    assert result.best.score == min(e.score for e in result.history)
    assert result.best_so_far == sorted(result.best_so_far, reverse=True)
    assert ev.oriented(1.0) > ev.oriented(2.0) and ev.better(1.0, 2.0)


def test_step_api_in_pieces(evaluator):
    search = Search(RandomSearch(batch=4), evaluator, 6, seed=0)
    batch = search.propose()
    assert len(batch) == 4 and search.propose() == batch  # pending until recorded
    evs = evaluator.evaluate(batch)
    search.record(evs[:1])
    assert search.step == 0 and search.propose() == batch
    search.record(evs[1:])
    assert search.step == 1 and len(search.history) == 4
    batch2 = search.propose()
    assert len(batch2) == 2  # capped by the remaining budget
    with pytest.raises(ConfigError, match="was not proposed"):
        search.record(evaluator.evaluate([next(a for a in NB201.sample(np.random.default_rng(0), 50)
                                               if a not in batch2 and not search.seen(a))]))
    search.record(evaluator.evaluate(batch2))
    assert search.done and search.propose() == []


def _records(run):
    return [(r["arch"], r["score"], r["step"]) for r in json.loads((run / "evaluations.json").read_text())]


@pytest.mark.parametrize("name", ["nao", "re"])
def test_resume_equals_uninterrupted(tmp_path, evaluator, name):
    full = tmp_path / "full"
    Search(make_method(name, nao_settings=TINY_NAO), evaluator, 20, seed=3, run_dir=full).run()

    part = tmp_path / "part"

    class Stop(Exception):
        pass

    def stop_after_two(search):
        if search.step == 2:
            raise Stop

    with pytest.raises(Stop):
        Search(make_method(name, nao_settings=TINY_NAO), evaluator, 20, seed=3, run_dir=part).run(stop_after_two)
    assert 0 < len(_records(part)) < 20

    counting = _Counting(evaluator)
    resumed = Search.resume(part, make_method(name, nao_settings=TINY_NAO), counting)
    resumed.run()
    assert _records(part) == _records(full)
    assert counting.evaluated == 20 - counting.first_len  # nothing evaluated twice
    assert json.loads((part / "best.json").read_text()) == json.loads((full / "best.json").read_text())


class _Counting(Evaluator):
    def __init__(self, inner):
        super().__init__(inner.space, inner.mode)
        self.inner, self.evaluated, self.first_len = inner, 0, 0

    def evaluate(self, archs):
        self.evaluated += len(archs)
        return self.inner.evaluate(archs)

    def config(self):
        return self.inner.config()

    def report(self, evaluation):
        return self.inner.report(evaluation)

    def attach_run_dir(self, run_dir):
        self.first_len = len(json.loads((run_dir / "evaluations.json").read_text()))


def test_resume_after_crash_between_evaluations_and_state(tmp_path, evaluator):
    """state.json older than evaluations.json: the step is re-proposed and served from the stored scores."""
    run = tmp_path / "run"
    search = Search(make_method("rs"), evaluator, 6, seed=0, run_dir=run)
    for _ in range(3):
        search.record(search.evaluate_pending() if search.propose() else [])
    state_after_2 = json.loads((run / "state.json").read_text())
    assert state_after_2["n_evaluations"] == 3
    stale = dict(state_after_2, step=2, n_evaluations=2)
    (run / "state.json").write_text(json.dumps(stale))
    counting = _Counting(evaluator)
    resumed = Search.resume(run, make_method("rs"), counting)
    resumed.run()
    assert counting.evaluated == 3  # the third record came from evaluations.json
    full = tmp_path / "full"
    Search(make_method("rs"), evaluator, 6, seed=0, run_dir=full).run()
    assert _records(run) == _records(full)


def test_budget_and_table_errors(tmp_path, evaluator):
    with pytest.raises(ConfigError, match="budget"):
        Search(make_method("rs"), evaluator, 0)
    small = write_table(tmp_path / "small.csv", rows=NB201.sample(np.random.default_rng(0), 5))
    ev = TableEvaluator(small)
    run = tmp_path / "run"
    with pytest.raises(DataError, match="is not in table"):
        Search(make_method("rs"), ev, 20, seed=0, run_dir=run).run()
    assert not run.exists()
    with pytest.raises(DataError, match="no column 'cifar10-val'"):
        TableEvaluator(write_table(tmp_path / "cols.csv", columns=("index", "cellstr", "val", "test")))
    with pytest.raises(DataError, match="no architecture column"):
        TableEvaluator(write_table(tmp_path / "arch.csv", columns=("index", "cell", "cifar10-val", "cifar10-test")))
    with pytest.raises(DataError, match="does not exist"):
        TableEvaluator(tmp_path / "missing.csv")
