"""``nao-tf arch`` through its public entry point, including 100+ malformed architectures."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import NAO_TF_CMD

from nao_tf.spaces import NASNET_FULL, NASNET_WS, NB201, RNN


def _malformed(rng: np.random.Generator) -> list[tuple[str, str]]:
    """(string, a word the one-line error must contain)."""
    cases: list[tuple[str, str]] = [("", "empty"), ("   ", "empty"), ("NAONet-Z", "zoo name"),
                                    ("{not json", "malformed"), ('{"space": "nasnet-ws"}', "JSON"),
                                    ("missing_file.json", "does not exist")]
    for _ in range(12):
        space = [NASNET_WS, NASNET_FULL, RNN, NB201][int(rng.integers(4))]
        vals = list(space.sample(rng, 1)[0].values)
        cut = vals[: int(rng.integers(1, len(vals)))] if rng.random() < 0.5 else vals + [0] * 3
        if len(cut) not in (6, 22, 40):
            cases.append((" ".join(map(str, cut)), "expected"))
    for _ in range(20):  # an input index that points forward
        vals = list(NASNET_WS.sample(rng, 1)[0].values)
        node = int(rng.integers(5))
        pos = 20 * int(rng.integers(2)) + 4 * node + 2 * int(rng.integers(2))
        vals[pos] = node + 2 + int(rng.integers(3))
        cases.append((" ".join(map(str, vals)), f"position {pos}"))
    for _ in range(20):  # op id out of range, in both op sets
        space = NASNET_WS if rng.random() < 0.5 else NASNET_FULL
        vals = list(space.sample(rng, 1)[0].values)
        pos = 2 * int(rng.integers(1, 20)) + 1
        vals[pos] = int(rng.choice([-1, 16, 17, 99])) if space is NASNET_FULL else int(rng.choice([5, 9, 11]))
        cases.append((" ".join(map(str, vals)), f"position {pos}"))
    for _ in range(15):  # non-numeric tokens
        vals = [str(v) for v in NASNET_WS.sample(rng, 1)[0].values]
        pos = int(rng.integers(40))
        vals[pos] = str(rng.choice(["x", "1.5", "two", "#"]))
        cases.append((" ".join(vals), "not an integer"))
    for _ in range(10):  # unknown op names in the readable form
        readable = NASNET_WS.format(NASNET_WS.sample(rng, 1)[0], "readable")
        cases.append((readable.replace("normal: (h0 ", "normal: (h0 bogus", 1).replace("(h1 ", "(h1 conv9x9 ", 1),
                      "expected"))
    for _ in range(10):  # RNN predecessor pointing forward
        vals = list(RNN.sample(rng, 1)[0].values)
        node = int(rng.integers(1, 12))
        vals[2 * (node - 1)] = node + int(rng.integers(0, 3))
        cases.append((" ".join(map(str, vals)), f"position {2 * (node - 1)}"))
    for _ in range(8):  # NB201 strings with unknown ops / bad ids
        arch = NB201.sample(rng, 1)[0]
        text = NB201.format_readable(arch)
        cases.append((text.replace("~0|", "~0x|", 1) if rng.random() < 0.5 else text.replace("|", "|sep_conv~0|", 1),
                      "expected"))
    cases += [  # loose-end lists that cannot exist, bad cell labels, wrong node counts
        ("normal: (h0 sep3, h1 id) (h0 sep3, h1 id) (h0 sep3, h1 id) (h0 sep3, h1 id) (h0 sep3, h1 id) -> concat "
         "h0; reduce: (h0 sep3, h1 id) (h0 sep3, h1 id) (h0 sep3, h1 id) (h0 sep3, h1 id) (h0 sep3, h1 id)",
         "loose ends"),
        ("normal: (h0 sep3, h1 id); reduce: (h0 sep3, h1 id)", "expected"),
        ("reduce: (h0 sep3, h1 id); normal: (h0 sep3, h1 id)", "expected"),
        ("(s0 relu) (s1 tanh)", "expected"),
        ("(s0 relu) " * 10 + "(s0 swish)", "expected"),
    ]
    return cases


def test_at_least_100_malformed_architectures_give_one_line_and_exit_2(cli):
    cases = _malformed(np.random.default_rng(2024))
    assert len(cases) >= 100
    for text, word in cases:
        code, out, err = cli("arch", "validate", text)
        lines = err.strip().splitlines()
        assert code == 2, (text, out, err)
        assert len(lines) == 1 and lines[0].startswith("nao-tf: error: "), (text, err)
        assert "Traceback" not in err and out == ""
        assert word.lower() in lines[0].lower(), (text, lines[0])


def test_show_prints_all_three_forms(cli):
    code, out, _ = cli("arch", "show", "NAONet-A")
    assert code == 0
    assert "readable: normal: (h0 conv3, h1 avg5)" in out
    assert "integers: 0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7 | 0 7 1 13" in out
    assert "tokens:   1 9 2 17" in out


def test_validate_sample_and_zoo(cli):
    code, out, _ = cli("arch", "sample", "--space", "nasnet-full", "--n", "5", "--seed", "3")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 5
    assert cli("arch", "sample", "--space", "nasnet-full", "--n", "5", "--seed", "3")[1] == out
    assert cli("arch", "validate", *lines)[0] == 0
    code, out, _ = cli("arch", "zoo")
    assert code == 0 and all(n in out for n in ("NAONet-A", "NAONet-B", "NAONet-WS", "PTB-NAONet"))
    code, out, _ = cli("arch", "sample", "--space", "rnn", "--format", "json")
    assert code == 0 and '"space": "rnn"' in out


@pytest.mark.parametrize("name", ["NAONet-B", "PTB-NAONet", "|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
                                  "|none~0|none~1|avg_pool_3x3~2|"])
def test_render_writes_dot_and_picture(cli, tmp_path, name):
    out = tmp_path / "cell.png"
    code, stdout, err = cli("arch", "render", name, "-o", out)
    assert code == 0, err
    assert out.stat().st_size > 10_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = (tmp_path / "cell.dot").read_text()
    assert dot.startswith("digraph") and "->" in dot


def test_render_refuses_unknown_extension(cli, tmp_path):
    code, _, err = cli("arch", "render", "NAONet-B", "-o", tmp_path / "cell.gif")
    assert code == 2 and ".png" in err


def test_console_script_reports_errors_in_one_line():
    proc = subprocess.run([*NAO_TF_CMD, "arch", "validate", "0 1 0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nao-tf: error: got 3 values; expected 40 (CNN cells), 22 (RNN cell) or 6 (nb201), or pass --space"
    ]
    proc = subprocess.run([*NAO_TF_CMD, "arch", "show", "NAONet-B"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "nasnet-ws" in proc.stdout
