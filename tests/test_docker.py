"""The Dockerfile cannot be built here (no Docker daemon, no network): check what can go wrong statically.

Its COPY sources exist and are sent by .dockerignore, it installs with the README Quickstart's and CI's exact
command, every package folder of pyproject.toml is copied, it runs as a non-root user with ``nao-tf`` as entry
point, and the GPU variant is a build arg on TensorFlow's GPU image. The README documents build and run lines.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _dockerignored(rel: str) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            ignored = not negate
    return ignored


def _readme_install_command() -> str:
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)
    commands = [c.strip() for line in block.splitlines() for c in line.split("&&")]
    return next(c for c in commands if c.startswith("pip install"))


def test_copy_sources_exist_and_are_sent():
    copies = [args for word, args in _instructions() if word == "COPY"]
    assert copies
    for args in copies:
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        for src in parts[:-1]:
            assert (REPO / src).exists(), f"COPY source {src} is missing"
            assert not _dockerignored(src), f"COPY source {src} is excluded by .dockerignore"
    assert _dockerignored("tests") and _dockerignored("runs") and _dockerignored(".git")


def test_every_package_folder_and_the_readme_are_copied():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    copied = {Path(p).as_posix().rstrip("/") for word, args in _instructions() if word == "COPY"
              for p in shlex.split(args)[:-1]}
    for folder in set(project["tool"]["setuptools"]["package-dir"].values()):
        assert folder in copied, f"{folder}/ (a package folder) is not copied"
    assert project["project"]["readme"] in copied and "pyproject.toml" in copied


def test_install_command_matches_readme_and_ci():
    readme_cmd = _readme_install_command()
    runs = [args for word, args in _instructions() if word == "RUN"]
    pip_runs = [r for r in runs if "pip install" in r]
    assert pip_runs == [readme_cmd], (pip_runs, readme_cmd)
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert readme_cmd in [line.strip() for line in ci]


def test_base_images_user_and_entrypoint():
    ins = _instructions()
    args = dict((a.split("=", 1) + [""])[:2] for w, a in ins if w == "ARG")
    assert args["BASE_IMAGE"].startswith("python:") and args["BASE_IMAGE"].endswith("-slim")
    version = tuple(int(v) for v in args["BASE_IMAGE"].split(":")[1].split("-")[0].split("."))
    assert version >= (3, 11)  # pyproject: requires-python >= 3.11
    assert [a for w, a in ins if w == "FROM"] == ["${BASE_IMAGE}"]
    users = [a for w, a in ins if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = [a for w, a in ins if w == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["nao-tf"]
    text = (REPO / "Dockerfile").read_text()
    assert "--build-arg BASE_IMAGE=tensorflow/tensorflow:latest-gpu" in text


def test_readme_documents_build_and_run():
    readme = (REPO / "README.md").read_text()
    docker = readme.split("## Docker", 1)[1].split("\n## ", 1)[0]
    assert "docker build -t nao-tf ." in docker
    assert "docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:latest-gpu" in docker
    run_lines = [line for line in docker.splitlines() if "docker run" in line]
    assert run_lines and "--gpus all" in docker
    assert '-v "$PWD/data:/data"' in docker and '-v "$PWD/runs:/runs"' in docker
    assert "## Export and deployment" in readme
