# nao-tf in a container: the `nao-tf` command is the entry point.
#
# CPU image (slim Python):  docker build -t nao-tf .
# GPU image:                docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:latest-gpu -t nao-tf:gpu .
#
# The package is installed with the very command of the README's Quickstart and of CI (.ci/run), so the image
# runs what CI tests. tests/test_docker.py checks that the COPY sources exist and that the commands match.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# PIP_BREAK_SYSTEM_PACKAGES: TensorFlow's GPU image uses the system Python; pip may install there (a no-op on
# the slim image). TF_CPP_MIN_LOG_LEVEL: keep TensorFlow's C++ start-up lines out of the command's output.
# KERAS_HOME, MPLCONFIGDIR: writable with any --user, which may have no home folder.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERAS_HOME=/tmp/.keras \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /opt/nao-tf
COPY pyproject.toml README.md ./
COPY nao_tf ./nao_tf
COPY cli ./cli
COPY export ./export
RUN pip install ".[dev]"

# Run as an unprivileged user; mount data at /data and runs at /runs (see the README's Docker section).
RUN useradd --create-home --shell /bin/bash nao \
    && mkdir -p /data /runs /exports \
    && chown nao:nao /data /runs /exports
USER nao
WORKDIR /runs
ENTRYPOINT ["nao-tf"]
CMD ["--help"]
