"""NAO-WS image search end to end through the CLI at toy size: run folder, final answer, plots, --max-params."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nao_tf.cli.main import main

TOY = ["--layers", "1", "--channels", "4", "--batch-size", "32", "--valid-size", "200", "--eval-images", "100",
       "--warmup-epochs", "0.02", "--epochs-per-round", "0.01", "--budget", "6", "--initial-pool", "4",
       "--per-round", "2", "--top-k", "4", "--controller-epochs", "3", "--controller-set", "jit_compile=false",
       "--rerank-top", "2", "--rerank-epochs", "1", "--child-steps", "2", "--quiet", "--seed", "0"]


def _params_median(layers=1, channels=4):
    from nao_tf.children.params import count_params
    from nao_tf.spaces.nasnet import NASNET_WS

    archs = NASNET_WS.sample(np.random.default_rng(123), 200)
    return int(np.median([count_params(a, layers, channels, 10, 1) for a in archs]))


def test_ws_search_end_to_end_with_max_params(tmp_path, capsys):
    run = tmp_path / "run"
    limit = _params_median()
    assert main(["search", "--out", str(run), "--max-params", str(limit), *TOY]) == 0
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
    from nao_tf.architectures import resolve

    assert resolve(str(run / "final_arch.json")).integers.replace(" ", "") == \
        final["integers"].replace("|", "").replace(" ", "")
    # a finished search resumed: nothing re-evaluated, same answer
    assert main(["search", "--resume", str(run), "--quiet"]) == 0
    again = json.loads((run / "final.json").read_text())
    assert again["integers"] == final["integers"]
    assert len(json.loads((run / "evaluations.json").read_text())) == 6


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
