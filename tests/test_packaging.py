"""The distribution installs `cli/` and `export/` under the `nao_tf` namespace only, with its package data."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from conftest import REPO


def _declared_packages() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_every_source_package_is_declared():
    mapping = {"nao_tf": REPO / "nao_tf", "nao_tf.cli": REPO / "cli", "nao_tf.export": REPO / "export"}
    found = set()
    for prefix, root in mapping.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            if "embedded" in rel or "__pycache__" in rel:
                continue
            found.add(".".join((prefix, *rel)))
    missing = found - _declared_packages()
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_wheel_has_no_generic_top_level_names(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, timeout=300)
    wheel = next(Path(tmp_path).glob("nao_tf-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top <= {"nao_tf", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, top
    assert "nao_tf/cli/main.py" in names and "nao_tf/export/__init__.py" in names
    assert any(n.startswith("nao_tf/data/embedded/") and n.endswith(".npz") for n in names)
    assert "nao_tf/search/baselines/standalone.json" in names  # the random-architecture baseline of 'default'
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "nao-tf = nao_tf.cli.main:main" in zipfile.ZipFile(wheel).read(entry).decode()
