"""NAO-WS image search end to end through the CLI at toy size: run folder, final answer, plots, --max-params, the
comparison with random architectures (``baseline``), the finalists' sources, and the printed next commands run
as printed (train, then export)."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import numpy as np
import pytest

from nao_tf.cli.main import main
from nao_tf.search.baseline import StandaloneCache, recipe_key, search_recipe
from nao_tf.search.config import resolve

TOY = ["--layers", "1", "--channels", "4", "--batch-size", "32", "--valid-size", "200", "--eval-images", "100",
       "--warmup-epochs", "0.02", "--epochs-per-round", "0.01", "--budget", "6", "--initial-pool", "4",
       "--per-round", "2", "--top-k", "4", "--controller-epochs", "3", "--controller-set", "jit_compile=false",
       "--rerank-top", "2", "--rerank-epochs", "1", "--child-steps", "2", "--quiet", "--seed", "0"]


RANDOM_ACCS = [0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.6, 0.9]  # stand-alone accuracies of "random architectures"


def _flags(argv: list[str]) -> dict[str, object]:
    """The settings flags of ``argv`` as ``resolve`` overrides."""
    out: dict[str, object] = {}
    i = 0
    while i < len(argv):
        if argv[i] == "--quiet":
            i += 1
            continue
        if argv[i] == "--controller-set":
            out.setdefault("--controller-set", []).append(argv[i + 1])  # type: ignore[union-attr]
        else:
            out[argv[i]] = argv[i + 1]
        i += 2
    return out


def _write_cache(path: Path, rec: dict, accs: list[float]) -> None:
    """A stand-alone cache as 'nao-tf benchmark ws-ranking' writes it, holding ``accs`` for recipe ``rec``."""
    cache = StandaloneCache(path)
    rows = cache.results(rec, 0)
    for i, acc in enumerate(accs):
        rows[f"arch-{i}"] = {"standalone_accuracy": acc, "params": 1000, "seconds": 1.0}
    cache.save()


def _command(out: str, verb: str) -> list[str]:
    """The one printed ``nao-tf VERB ...`` line as an argv for ``main``."""
    lines = [ln.strip() for ln in out.splitlines() if ln.strip().startswith(f"nao-tf {verb} ")]
    assert len(lines) == 1, out
    return shlex.split(lines[0])[1:]


def _params_median(layers=1, channels=4):
    from nao_tf.children.params import count_params
    from nao_tf.spaces.nasnet import NASNET_WS

    archs = NASNET_WS.sample(np.random.default_rng(123), 200)
    return int(np.median([count_params(a, layers, channels, 10, 1) for a in archs]))


def test_ws_search_end_to_end_with_max_params(tmp_path, capsys):
    run, cache = tmp_path / "run", tmp_path / "standalone.json"
    limit = _params_median()
    # a random-architecture baseline for this run's recipe; --final-train-seconds keeps the printed train short
    argv = ["--max-params", str(limit), "--baseline-cache", str(cache), "--final-train-seconds", "45", *TOY]
    rec = search_recipe(resolve(overrides=_flags(argv)))
    _write_cache(cache, rec, RANDOM_ACCS)
    assert main(["search", "--out", str(run), *argv]) == 0
    out = capsys.readouterr().out
    for text in ("best architecture (nasnet-ws):", "stand-alone validation accuracy:", f"run folder: {run}",
                 "nao-tf train", "nao-tf export"):
        assert text in out, out
    final = json.loads((run / "final.json").read_text())
    records = json.loads((run / "evaluations.json").read_text())
    assert len(records) == 6 and {r["step"] for r in records} == {0, 1}
    assert all(r["metadata"]["params"] <= limit for r in records)  # never evaluated over budget
    assert final["params"] <= limit and 0.0 <= final["standalone_accuracy"] <= 1.0
    assert len(final["reranked"]) == 2
    assert final["integers"].replace("| ", "") in {r["integers"] for r in final["reranked"]}
    assert final["integers"] in out
    for name in ("rounds.png", "progress.png", "final_arch.json", "rerank.json", "config.json"):
        assert (run / name).is_file(), name
    assert (run / "best_cell.png").is_file() or final["diagram"] is None
    # round 1 scored the 4 round-0 architectures again with the newer shared weights (the pool is re-scored)
    snapshot = json.loads(sorted(run.glob("supernet-*.json"))[-1].read_text())
    assert snapshot["completed_rounds"] == 2 and snapshot["rescored"] == 4
    config = json.loads((run / "config.json").read_text())
    assert config["evaluator"]["kind"] == "ws" and config["evaluator"]["max_params"] == limit
    # the answer can be trained as is
    from nao_tf.architectures import resolve as resolve_arch

    assert resolve_arch(str(run / "final_arch.json")).integers.replace(" ", "") == \
        final["integers"].replace("|", "").replace(" ", "")
    # the baseline: the winner's stand-alone accuracy among the random architectures of the same recipe
    base, acc = final["baseline"], final["standalone_accuracy"]
    accs = np.asarray(RANDOM_ACCS)
    assert base["available"] and base["recipe_key"] == recipe_key(rec) and base["sources"] == [str(cache)]
    assert base["n"] == len(RANDOM_ACCS) and base["median"] == pytest.approx(np.median(accs), abs=1e-4)
    assert (base["q1"], base["q3"]) == pytest.approx(tuple(np.percentile(accs, [25, 75])), abs=1e-4)
    assert base["mean"] == pytest.approx(accs.mean(), abs=1e-4)
    assert base["percentile"] == pytest.approx(100 * ((accs < acc).sum() + 0.5 * (accs == acc).sum()) / len(accs),
                                               abs=0.05)
    expected = "top quartile" if acc > base["q3"] else "above median" if acc > base["median"] else \
        "at median" if acc == base["median"] else "below median"
    assert base["verdict"] == expected and base["winner_accuracy"] == pytest.approx(acc, abs=1e-4)
    assert f"against random architectures: winner {acc:.4f} vs 8 random architectures" in out, out
    assert expected in out

    # where the re-ranked finalists came from, counted from evaluations.json
    records = json.loads((run / "evaluations.json").read_text())
    by_arch = {" ".join(map(str, r["arch"])): r for r in records}
    finalists = [by_arch[r["integers"]] for r in final["reranked"]]
    counts: dict[str, int] = {}
    for r in finalists:
        family = r["source"].split("(")[0]
        counts[family] = counts.get(family, 0) + 1
    assert final["top_sources"] == counts and sum(counts.values()) == 2
    winner = by_arch[final["reranked"][0]["integers"]]
    assert final["winner_source"] == {"source": winner["source"], "round": winner["step"]}
    nao = sum(v for k, v in counts.items() if k != "random")
    assert f"finalists: {nao} of the 2 re-ranked came from the search's proposals, not the random pool" in out, out

    # proposals against random draws, every architecture re-scored with the final supernet
    versus = final["search_vs_random"]
    assert versus["scored_by"] == "final supernet" and [r["round"] for r in versus["rounds"]] == [0, 1]
    for row in versus["rounds"]:
        mine = [r for r in records if r["step"] == row["round"]]
        assert row["queries"] == len(mine) and row["random"] == sum(r["source"] == "random" for r in mine)
        assert row["recorded_mean"] == pytest.approx(np.mean([r["score"] for r in mine]), abs=1e-4)
        assert 0.0 <= row["final_mean"] <= 1.0
    # the last round was scored with the weights the search ended with: re-scoring it changes nothing
    assert versus["rounds"][-1]["final_mean"] == pytest.approx(versus["rounds"][-1]["recorded_mean"], abs=1e-4)
    assert versus["proposals_beat_random"] == (versus["proposals_mean"] > versus["random_mean"])
    assert f"proposals against random draws: mean {versus['proposals_mean']:.4f} vs " in out, out

    # the next commands, as printed, run to completion within their stated time
    plan = final["next_steps"]["train"]
    assert plan["recipe"] == "fit" and plan["steps_per_epoch"] == 2 and plan["estimate_seconds"] > 0
    assert f"about {plan['note'].split('about ')[1]}" in out
    train = _command(out, "train")
    assert train[train.index("--epochs") + 1] == str(plan["epochs"])
    assert train[train.index("--channels") + 1] == str(plan["channels"])
    started = time.perf_counter()
    assert main(train) == 0
    took = time.perf_counter() - started
    err = capsys.readouterr().err
    assert "time estimate: epoch 1 took" in err, err
    assert took <= 3 * plan["estimate_seconds"], (took, plan)  # "about": generous on a shared machine
    summary = json.loads((run / "final" / "summary.json").read_text())
    assert summary["epochs"] == plan["epochs"]
    export = _command(out, "export")
    assert main([*export, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported and (run / "exports").is_dir() and any((run / "exports").rglob("*.onnx"))

    # a finished search resumed: nothing re-evaluated, same answer; the cache gone and the toy recipe not
    # shipped, the baseline is one honest line with the command that measures it
    cache.unlink()
    assert main(["search", "--resume", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    again = json.loads((run / "final.json").read_text())
    assert again["integers"] == final["integers"]
    assert len(json.loads((run / "evaluations.json").read_text())) == 6
    base = again["baseline"]
    assert not base["available"] and base["command"].startswith(
        "nao-tf benchmark ws-ranking --preset default --standalone-only")
    for setting in ("--set valid_size=200", "--set rerank_channels=4", "--set rerank_epochs=1",
                    "--set child_steps=2", f"--set max_params={limit}", f"--cache {cache}"):
        assert setting in base["command"], base["command"]
    line = next(ln for ln in out.splitlines() if ln.startswith("against random architectures:"))
    assert "no baseline" in line and base["command"] in line


@pytest.mark.parametrize("argv, match", [
    (["--preset", "huge"], "unknown preset 'huge'; valid presets: default, paper-ws, paper-full"),
    (["--evaluator", "ws", "--space", "nasnet-full"], "use --evaluator child"),
    (["--max-params", "0"], "--max-params must be a positive"),
])
def test_bad_image_search_input_is_one_line(tmp_path, capsys, argv, match):
    run = tmp_path / "run"
    assert main(["search", "--out", str(run), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nao-tf: error:") and match in err[0], err
    assert not run.exists()


def test_config_file_keys_are_checked(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: 1\nlearning_rat: 0.1\n")
    assert main(["search", "--out", str(tmp_path / "run"), "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'learning_rat'" in err[0] and "max-params" in err[0], err
    notmap = tmp_path / "list.yaml"
    notmap.write_text("- 1\n- 2\n")
    assert main(["search", "--out", str(tmp_path / "run"), "--config", str(notmap)]) == 2
    assert "must be a mapping" in capsys.readouterr().err


def test_config_file_and_preset_precedence():
    from nao_tf.search.config import resolve

    s = resolve(overrides={"--preset": "paper-ws", "--channels": "12"})
    assert s.preset == "paper-ws" and s.evaluator.layers == 3 and s.evaluator.channels == 12
    assert s.data.dataset == "cifar10"


def test_config_file_sets_values(tmp_path):
    from nao_tf.search.config import resolve

    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: paper-full\nchild-epochs: 2\nmax_params: 123456\nlayers: 2\n")
    s = resolve(config_file=cfg, overrides={"--layers": "1"})
    assert s.evaluator.kind == "child" and s.space == "nasnet-full" and s.evaluator.epochs == 2
    assert s.evaluator.max_params == 123456 and s.evaluator.layers == 1  # flags beat the file


def test_resume_refuses_folders_of_other_spaces_or_no_run(tmp_path, capsys):
    assert main(["search", "--resume", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    run = tmp_path / "other"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({
        "space": "nasnet-full", "budget": 4, "seed": 0, "method": {"name": "nao"}, "controller": {},
        "evaluator": {"kind": "ws", "valid_size": 200, "eval_images": 100}, "data": {"dataset": "embedded"}}))
    assert main(["search", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "searches nasnet-ws, not 'nasnet-full'" in err[0] and "config.json" in err[0], err
