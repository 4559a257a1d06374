# nao-tf in a container: the `nao-tf` command is the entry point (`docker run IMAGE search` runs a search).
#
# CPU image (slim Python):  docker build -t nao-tf .
# GPU image:                docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:latest-gpu -t nao-tf:gpu .
# No public images here:    scripts/make_base_image.sh, then --build-arg BASE_IMAGE=local/bookworm-py
#
# Two stages: `build` makes a virtual environment holding nao-tf and its runtime dependencies only (no pytest,
# no ruff, no build tools); the final image is the base plus that folder. The environment sees the base's own
# packages (--system-site-packages), so TensorFlow's GPU image keeps its CUDA-matched TensorFlow instead of a
# second copy. scripts/docker_smoke.sh builds this file and runs train, export and predict in it;
# tests/test_docker.py checks it statically.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY nao_tf ./nao_tf
COPY cli ./cli
COPY export ./export
# --without-pip: the venv runs the base's pip, so bases without ensurepip (plain Debian python3) work too.
RUN python3 -m venv --system-site-packages --without-pip /opt/nao-tf \
    && /opt/nao-tf/bin/python -m pip install --no-compile .

FROM ${BASE_IMAGE}
# Run as an unprivileged user; mount data at /data, runs at /runs and exports at /exports (docs/deployment.md).
RUN useradd --create-home --shell /bin/bash nao \
    && mkdir -p /data /runs /exports \
    && chown nao:nao /data /runs /exports
# TF_CPP_MIN_LOG_LEVEL: keep TensorFlow's C++ start-up lines out of the command's output.
# KERAS_HOME, MPLCONFIGDIR: writable with any --user, which may have no home folder.
ENV PATH=/opt/nao-tf/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERAS_HOME=/tmp/.keras \
    MPLCONFIGDIR=/tmp/matplotlib
USER nao
WORKDIR /runs
ENTRYPOINT ["nao-tf"]
CMD ["--help"]
# Last: storage drivers without copy-on-write (vfs) copy the whole tree for every later step.
COPY --from=build /opt/nao-tf /opt/nao-tf
