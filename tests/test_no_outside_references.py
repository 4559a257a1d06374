"""Nothing in the repository points at files outside it (a developer's spec or data folder): code, help and docs
state what they need or cite docs/ (e.g. "docs/method.md section 6"). Tests may read shared data, so tests/ is
not searched; generated folders (build/, *.egg-info) are not the repository's."""

from __future__ import annotations

import re

from conftest import REPO

# What `grep -rn "NAO_SPEC\|\.\./shared" --include=*.py --include=*.md --include=*.toml .` looks for, plus the
# bare "spec section N" citations that meant the same outside file.
PATTERN = re.compile(r"NAO_SPEC|\.\./shared|\bspec sections? \d")
SKIP = {"tests", "build", ".git", ".venv", "runs", "exports"}


def _files():
    for path in sorted(REPO.rglob("*")):
        rel = path.relative_to(REPO)
        if rel.parts[0] in SKIP or any(p.endswith(".egg-info") or p.startswith(".") for p in rel.parts):
            continue
        if path.is_file() and path.suffix in (".py", ".md", ".toml"):
            yield path, rel


def test_no_file_points_outside_the_repository():
    hits = [f"{rel}:{n}: {line.strip()}" for path, rel in _files()
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if PATTERN.search(line)]
    assert hits == [], "\n".join(hits)


def test_the_check_sees_the_whole_tree():
    seen = {rel.as_posix() for _, rel in _files()}
    assert {"README.md", "pyproject.toml", "nao_tf/__init__.py", "cli/main.py", "export/__init__.py",
            "docs/method.md"} <= seen
