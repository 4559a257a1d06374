"""Commands that load TensorFlow still report user errors as exactly one line on stderr, exit 2."""

from __future__ import annotations

import subprocess

from conftest import NAO_TF_CMD

import nao_tf


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NAO_TF_CMD, *args], capture_output=True, text=True, timeout=300)


def test_evaluate_a_language_model_file_without_its_vocabulary(tmp_path):
    from nao_tf.children.lm import build_lm

    build_lm(nao_tf.resolve("PTB-NAONet"), vocab_size=40, hidden=8).save(tmp_path / "lm.keras")
    proc = _run("evaluate", str(tmp_path / "lm.keras"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"nao-tf: error: {tmp_path / 'lm.keras'} is a RnnLanguageModel, not a nao-tf CNN; language models "
        "evaluate from their run folder (it holds vocab.txt)"
    ]


def test_train_with_a_missing_data_dir_is_one_line(tmp_path):
    proc = _run("train", "NAONet-B", "--dataset", "cifar10", "--data-dir", str(tmp_path / "nothing-here"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nao-tf: error: "), proc.stderr
