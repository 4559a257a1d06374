"""Fast static checks of the Dockerfile (the image itself is built and run by scripts/docker_smoke.sh).

Its COPY sources exist and are sent by .dockerignore, every package folder of pyproject.toml is copied, the
build stage installs the project without extras and the final stage holds only that environment, it runs as a
non-root user with ``nao-tf`` as entry point, and the GPU variant is a build arg on TensorFlow's GPU image.
docs/deployment.md documents build and run lines; the scripts parse and cover every step the smoke promises.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
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


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for word, args in _instructions():
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, args))
    return stages


def test_copy_sources_exist_and_are_sent():
    copies = [args for word, args in _instructions() if word == "COPY" and "--from=" not in args]
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


def test_runtime_dependencies_only_in_the_final_stage():
    build, final = _stages()
    assert build[0] == ("FROM", "${BASE_IMAGE} AS build")
    pip_runs = [a for w, a in build if w == "RUN" and "pip install" in a]
    assert len(pip_runs) == 1 and pip_runs[0].rstrip().endswith("install --no-compile .")  # no [dev] extras
    assert "--system-site-packages" in pip_runs[0]  # the GPU base's own TensorFlow is reused
    # The final stage installs nothing: it copies the environment built above.
    assert not any("pip" in a for w, a in final if w == "RUN")
    copies = [a for w, a in final if w == "COPY"]
    assert copies == ["--from=build /opt/nao-tf /opt/nao-tf"]
    env = " ".join(a for w, a in final if w == "ENV")
    assert "PATH=/opt/nao-tf/bin:$PATH" in env
    # The large COPY last: vfs-like storage drivers copy the whole tree for every later step.
    assert final[-1][0] == "COPY"


def test_base_images_user_and_entrypoint():
    ins = _instructions()
    args = dict((a.split("=", 1) + [""])[:2] for w, a in ins if w == "ARG")
    assert args["BASE_IMAGE"].startswith("python:") and args["BASE_IMAGE"].endswith("-slim")
    version = tuple(int(v) for v in args["BASE_IMAGE"].split(":")[1].split("-")[0].split("."))
    assert version >= (3, 11)  # pyproject: requires-python >= 3.11
    assert [a for w, a in ins if w == "FROM"] == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    users = [a for w, a in ins if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = [a for w, a in ins if w == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["nao-tf"]
    text = (REPO / "Dockerfile").read_text()
    assert "--build-arg BASE_IMAGE=tensorflow/tensorflow:latest-gpu" in text


def test_deployment_docs_document_build_and_run():
    docs = (REPO / "docs" / "deployment.md").read_text()
    docker = docs.split("## Docker", 1)[1].split("\n## ", 1)[0]
    assert "docker build -t nao-tf ." in docker
    assert "docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:latest-gpu" in docker
    assert "scripts/make_base_image.sh" in docker and "scripts/docker_smoke.sh" in docker
    run_lines = [line for line in docker.splitlines() if "docker run" in line]
    assert run_lines and "--gpus all" in docker
    assert '-v "$PWD/data:/data"' in docker and '-v "$PWD/runs:/runs"' in docker
    assert "TF_CONFIG" in docs and "--multi-worker" in docs
    assert "docs/deployment.md" in (REPO / "README.md").read_text()


def test_scripts_parse_and_cover_the_smoke_steps():
    for name in ("docker_smoke.sh", "make_base_image.sh"):
        path = REPO / "scripts" / name
        subprocess.run(["bash", "-n", str(path)], check=True)
        assert path.stat().st_mode & 0o111, f"{name} is not executable"
    smoke = (REPO / "scripts" / "docker_smoke.sh").read_text()
    for step in ("--help", "arch show NAONet-B", "train NAONet-B", "export /runs/toy", "predict /exports/toy/1",
                 "search --help", "--network none", "--user", "verification.json", "image size", "built in"):
        assert step in smoke, step
    base = (REPO / "scripts" / "make_base_image.sh").read_text()
    assert "debootstrap --variant=minbase" in base and "ca-certificates.crt" in base and "docker import" in base
