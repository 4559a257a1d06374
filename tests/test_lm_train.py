"""LM training and evaluation through the CLI: learning on the embedded corpus, resume, NaN stop, OOV, errors."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import NAO_TF_CMD

from nao_tf.children.train_lm import LmConfig, LmTrainer, load_lm  # noqa: E402
from nao_tf.cli.main import main  # noqa: E402
from nao_tf.data.text import load_corpus, unigram_perplexity  # noqa: E402

TOY = ("--hidden", "48", "--batch-size", "32", "--bptt", "20", "--embed-dropout", "0", "--input-dropout", "0.1",
       "--x-dropout", "0.1", "--hidden-dropout", "0.1", "--output-dropout", "0.2", "--log-every", "1000")


def test_toy_lm_beats_unigram_through_cli(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", "PTB-NAONet", "--out", run, "--epochs", "3", "--quiet", "--json", *TOY)
    assert code == 0, err
    result = json.loads(out[out.index("{"):])
    unigram = unigram_perplexity(load_corpus("embedded"), "valid")
    assert result["unigram_valid_ppl"] == pytest.approx(unigram, rel=1e-4)
    assert result["best_valid_ppl"] < 0.75 * unigram, result
    assert result["test_ppl"] < 0.75 * result["unigram_test_ppl"]
    for name in ("config.json", "vocab.txt", "model.keras", "state.npz", "state.json", "history.jsonl",
                 "result.json"):
        assert (run / name).is_file(), name
    assert list((run / "tb").iterdir())
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["valid_ppl"] < history[0]["valid_ppl"]

    code, out, err = cli("evaluate", run, "--json")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["perplexity"] == pytest.approx(result["test_ppl"], rel=1e-4)
    assert ev["oov_tokens"] == result["test_oov_tokens"] > 0

    # resume: continues after epoch 3 from the saved state
    code, out, err = cli("train", "--resume", run, "--epochs", "4", "--quiet", "--json")
    assert code == 0, err
    assert json.loads(out[out.index("{"):])["epochs"] == 4
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]

    # NaN: an absurd learning rate diverges; one-line error, exit 2, last good epoch kept
    before = (run / "model.keras").read_bytes()
    code, out, err = cli("train", "--resume", run, "--epochs", "5", "--lr", "1e30", "--quiet")
    assert code == 2
    assert err.strip().count("\n") == 0 and "NaN or infinite" in err and "epoch (4) is kept" in err
    assert json.loads((run / "state.json").read_text())["epoch"] == 4
    assert (run / "model.keras").read_bytes() == before

    # a new run into a used folder is refused
    code, _, err = cli("train", "PTB-NAONet", "--out", run, "--epochs", "1", *TOY)
    assert code == 2 and "--resume" in err


def toy_ptb(folder, test_text: str | None = None):
    """A PTB-format folder of 60 random 8-word lines over 30 words (the test split: ``test_text`` if given)."""
    folder.mkdir()
    words = [f"w{i}" for i in range(30)]
    g = np.random.default_rng(0)
    lines = [" ".join(g.choice(words, 8)) for _ in range(60)]
    for split, text in (("train", lines), ("valid", lines[:10]), ("test", lines[10:20])):
        (folder / f"ptb.{split}.txt").write_text("\n".join(text) + "\n")
    if test_text is not None:
        (folder / "ptb.test.txt").write_text(test_text)
    return folder


def test_ptb_files_train_and_oov_at_evaluation(cli, tmp_path):
    data = toy_ptb(tmp_path / "ptb", "w1 w2 unseen w3 also_unseen w4 w5 w6 w7 w8\n" * 3)
    run = tmp_path / "run"
    code, _, err = cli("train", "PTB-NAONet", "--dataset", "ptb", "--data-dir", data, "--out", run,
                       "--epochs", "1", "--hidden", "8", "--batch-size", "4", "--bptt", "6",
                       "--eval-batch-size", "2", "--quiet")
    assert code == 0, err
    model, vocab = load_lm(run)
    assert len(vocab) == 32 and model.vocab_size == 32
    code, out, err = cli("evaluate", run, "--json", "--batch-size", "2", "--bptt", "4")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["oov_tokens"] == 6 and ev["dataset"] == "ptb" and np.isfinite(ev["perplexity"])


def test_averaging_switch_and_no_output():
    corpus = load_corpus("embedded")
    cfg = LmConfig(hidden=8, batch_size=40, eval_batch_size=40, bptt=30, epochs=4, nonmono=1, lr=0.0,
                   embed_dropout=0, input_dropout=0, x_dropout=0, hidden_dropout=0, output_dropout=0)
    trainer = LmTrainer(cfg, None, quiet=True, corpus=corpus)
    result = trainer.run()  # lr 0: validation never improves -> switch to averaged SGD after nonmono + 1 evals
    flags = [h["averaging"] for h in trainer.history]
    assert flags == [False, False, True, True]
    assert result["averaged"] and "run_dir" not in result


def test_bad_input_one_line_exit_2(cli, tmp_path):
    code, _, err = cli("train", "PTB-NAONet", "--out", tmp_path / "r", "--bptt", "100000", "--quiet")
    assert code == 2 and "BPTT length 100000" in err and err.strip().count("\n") == 0
    code, _, err = cli("train", "PTB-NAONet", "--out", tmp_path / "r2", "--output-dropout", "1.5")
    assert code == 2 and "--output-dropout" in err
    code, _, err = cli("evaluate", tmp_path / "nothing")
    assert code == 2
    proc = subprocess.run([*NAO_TF_CMD, "train", "PTB-NAONet", "--dataset",
                           "wikitext2", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r3")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "missing split file" in proc.stderr and "wiki.train.tokens" in proc.stderr


def test_benchmark_lm_json(cli):
    code, out, err = cli("benchmark", "lm", "--sizes", "8,12", "--steps", "2", "--vocab-size", "40",
                         "--batch-size", "4", "--bptt", "5", "--jit", "off")
    assert code == 0, err
    result = json.loads(out)
    assert result["benchmark"] == "lm" and result["settings"]["batch_size"] == 4 and result["settings"]["bptt"] == 5
    assert [r["hidden"] for r in result["results"]["runs"]] == [8, 12]
    for r in result["results"]["runs"]:
        assert r["train_tokens_per_s"] > 0 and r["eval_tokens_per_s"] > 0 and r["jit_compile"] is False
        assert np.isfinite(r["final_train_loss"])
    code, _, err = cli("benchmark", "lm", "--sizes", "x")
    assert code == 2 and "--sizes" in err


def test_lm_training_prints_a_time_estimate_after_the_first_epoch(tmp_path, capsys):
    data = toy_ptb(tmp_path / "ptb")
    assert main(["train", "PTB-NAONet", "--dataset", "ptb", "--data-dir", str(data), "--out", str(tmp_path / "r"),
                 "--epochs", "2", "--hidden", "8", "--batch-size", "4", "--bptt", "6",
                 "--eval-batch-size", "2"]) == 0
    out = capsys.readouterr().out
    estimates = [ln for ln in out.splitlines() if ln.startswith("time estimate:")]
    assert len(estimates) == 1 and "epoch 1 took" in estimates[0] and "2 epochs take about" in estimates[0], out
    assert "later epochs about" in estimates[0], estimates  # paced without the tracing step
