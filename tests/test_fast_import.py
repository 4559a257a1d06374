"""``import nao_tf`` and the light commands never load TensorFlow or Keras (the < 1 s CLI start-up).

Each test runs real command code paths (``nao_tf.cli.main.main``) in a fresh interpreter and then looks at its
``sys.modules``: timing is a benchmark's job on a shared machine, but a TensorFlow import is what costs the
seconds, and it is either there or not. The subprocess runs outside the repository, so it imports the
installed package, as a user's shell would.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from test_search import write_table

HEAVY = ("tensorflow", "keras", "tf_keras", "tf2onnx")

PROBE = """
import json, sys
from nao_tf.cli.main import main
codes = []
for argv in json.loads(sys.argv[1]):
    try:
        codes.append(main(argv))
    except SystemExit as exc:
        codes.append(exc.code)
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[2])))
with open(sys.argv[3], "w") as f:
    json.dump({"codes": codes, "loaded": loaded}, f)
"""


def run_commands(tmp_path: Path, *argvs: list[str]) -> tuple[list[int], list[str]]:
    """Run ``nao-tf ARGV`` for each argv in one fresh interpreter; (exit codes, heavy packages it imported)."""
    report = tmp_path / "probe.json"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([[str(a) for a in argv] for argv in argvs]), json.dumps(HEAVY),
         str(report)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(report.read_text())
    return result["codes"], result["loaded"]


def test_import_nao_tf_loads_no_tensorflow(tmp_path):
    code = ("import json, sys, nao_tf\n"
            "a = nao_tf.resolve('NAONet-B')\n"
            "nao_tf.get_space(a.space).encode(a)\n"
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == []


def test_help_of_every_command_loads_no_tensorflow(tmp_path):
    from nao_tf.cli.main import COMMAND_MODULES

    benchmarks = ("nb201", "controller", "controller-quality", "supernet", "child", "lm", "export")
    arch = ("show", "validate", "sample", "zoo", "render")
    argvs = [["--help"], ["--version"], *([c, "--help"] for c in COMMAND_MODULES),
             *(["benchmark", b, "--help"] for b in benchmarks), *(["arch", a, "--help"] for a in arch)]
    codes, loaded = run_commands(tmp_path, *argvs)
    assert codes == [0] * len(argvs)
    assert loaded == []


def test_arch_commands_load_no_tensorflow(tmp_path):
    codes, loaded = run_commands(
        tmp_path,
        ["arch", "show", "NAONet-B"],
        ["arch", "show", "NAONet-B", "--params", "--json"],
        ["arch", "validate", "NAONet-A", "PTB-NAONet"],
        ["arch", "sample", "--space", "nasnet-ws", "--n", "2", "--seed", "1"],
        ["arch", "sample", "--space", "nb201", "--format", "json"],
        ["arch", "zoo", "--json"],
        ["arch", "render", "NAONet-B", "-o", tmp_path / "cell.dot"],
        ["arch", "render", "PTB-NAONet", "-o", tmp_path / "rnn.png"],
        ["arch", "show", "not-an-architecture"],
    )
    assert codes == [0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert loaded == []
    assert (tmp_path / "cell.dot").read_text().startswith("digraph")
    assert (tmp_path / "rnn.png").read_bytes()[:4] == b"\x89PNG"


def test_baseline_nb201_benchmark_loads_no_tensorflow(tmp_path):
    """Regularized evolution and random search on a table need NumPy only; the envelope says so."""
    table = write_table(tmp_path / "nb201.csv")
    codes, loaded = run_commands(tmp_path, ["benchmark", "nb201", "--table", table, "--methods", "re,rs",
                                            "--budgets", "5,10", "--seeds", "2", "--out", tmp_path / "bench",
                                            "--quiet"])
    assert codes == [0] and loaded == []
    summary = json.loads((tmp_path / "bench" / "summary.json").read_text())
    assert set(summary) == {"benchmark", "settings", "machine", "results"}
    assert summary["machine"]["devices"] == ["CPU (TensorFlow not loaded)"]
    assert set(summary["results"]["by_budget"]["10"]) == {"re", "rs"}


def test_every_module_defining_keras_objects_is_registered():
    """``register_all`` imports ``MODULES``: a module that registers a Keras object must be listed there, or its
    ``.keras`` files would not reload through ``nao_tf.load_model``."""
    from nao_tf.keras_objects import MODULES

    defining = set()
    for path in sorted((REPO / "nao_tf").rglob("*.py")) + sorted((REPO / "export").rglob("*.py")):
        if path.name == "keras_objects.py":
            continue
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Attribute) and n.attr == "register_keras_serializable" for n in ast.walk(tree)):
            rel = path.relative_to(REPO).with_suffix("")
            parts = ("nao_tf", *rel.parts) if rel.parts[0] == "export" else rel.parts
            defining.add(".".join(parts))
    assert defining == set(MODULES)
