#!/usr/bin/env bash
# Build the project's Dockerfile and run the user-facing commands in it, the way a user would.
#
#   scripts/docker_smoke.sh                        # BASE_IMAGE=local/bookworm-py (made if missing)
#   BASE_IMAGE=python:3.11-slim scripts/docker_smoke.sh
#
# Steps: use the running Docker daemon (or start one: dockerd --storage-driver=vfs, as root); make the local
# base image with scripts/make_base_image.sh when BASE_IMAGE is local/bookworm-py and missing; build (the
# only step that needs the package index); then, with no network at all (--network none), as an
# unprivileged --user and with /data, /runs and /exports mounted from a fresh folder:
#   nao-tf --help; nao-tf arch show NAONet-B; a toy nao-tf train on the embedded sample; nao-tf export of
#   that run; nao-tf predict on a PNG; nao-tf search --help (the `docker run IMAGE search` entry).
# Host-side checks: every file written is owned by the calling user (SUDO_UID when run with sudo; uid 1000
# when run by root itself: containers never run as root here), the export's verification.json says passed,
# and the image holds neither pytest nor ruff. Prints the image size and the build time; exit 0 = all passed.
#
# Environment: BASE_IMAGE, IMAGE (nao-tf:smoke), KEEP=1 keeps the work folder, NO_CACHE=1 builds from scratch.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BASE_IMAGE=${BASE_IMAGE:-local/bookworm-py}
IMAGE=${IMAGE:-nao-tf:smoke}
say() { printf 'docker_smoke: %s\n' "$*"; }
die() { printf 'docker_smoke: FAILED: %s\n' "$*" >&2; exit 1; }

# ----- daemon ------------------------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "no Docker daemon answers and only root can start one; start dockerd first"
    command -v dockerd >/dev/null || die "dockerd is missing: apt-get install docker.io"
    say "starting dockerd --storage-driver=vfs (log: /var/log/nao-tf-dockerd.log)"
    nohup dockerd --storage-driver=vfs >/var/log/nao-tf-dockerd.log 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || die "dockerd did not come up; see /var/log/nao-tf-dockerd.log"
fi

# ----- base image and build ----------------------------------------------------------------------------------
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if [ "$BASE_IMAGE" = local/bookworm-py ]; then
        IMAGE=local/bookworm-py "$REPO/scripts/make_base_image.sh"
    else
        docker pull "$BASE_IMAGE" || die "base image $BASE_IMAGE is not available; try BASE_IMAGE=local/bookworm-py"
    fi
fi
say "building $IMAGE on $BASE_IMAGE"
started=$(date +%s)
docker build --network host ${NO_CACHE:+--no-cache} --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$REPO" \
    >"${TMPDIR:-/tmp}/nao-tf-docker-build.log" 2>&1 \
    || { tail -30 "${TMPDIR:-/tmp}/nao-tf-docker-build.log" >&2; die "docker build failed"; }
build_s=$(( $(date +%s) - started ))
size_mb=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f", $1/1e6}')
say "built in ${build_s} s; image size ${size_mb} MB"

# ----- mounted folders, owned by the user the container runs as --------------------------------------------
RUN_UID=${SUDO_UID:-$(id -u)}
RUN_GID=${SUDO_GID:-$(id -g)}
if [ "$RUN_UID" = 0 ]; then RUN_UID=1000; RUN_GID=1000; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nao-tf-smoke.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/data" "$WORK/runs" "$WORK/exports"
[ "$(id -u)" = 0 ] && chown -R "$RUN_UID:$RUN_GID" "$WORK"

in_image() {  # no network at all: nothing after the build may need it
    docker run --rm --network none --user "$RUN_UID:$RUN_GID" \
        -v "$WORK/data:/data" -v "$WORK/runs:/runs" -v "$WORK/exports:/exports" "$@"
}
step() { say "\$ nao-tf $*"; }

step --help
in_image "$IMAGE" --help | head -3
step arch show NAONet-B
in_image "$IMAGE" arch show NAONet-B | head -4
step train NAONet-B "(toy size, embedded sample)"
in_image "$IMAGE" train NAONet-B --layers 1 --channels 4 --epochs 1 --batch-size 16 --steps-per-epoch 2 \
    --valid-size 32 --out /runs/toy --quiet --seed 0
step export /runs/toy --out /exports
in_image "$IMAGE" export /runs/toy --out /exports --name toy | tail -2
# A PNG from the embedded sample, written by the image's own Python (the host needs nothing installed).
in_image --entrypoint python "$IMAGE" -c '
import numpy as np
from PIL import Image
from importlib.resources import files
with np.load(files("nao_tf.data") / "embedded" / "fashion_mnist_sample.npz") as d:
    Image.fromarray(d["x_test"][0].squeeze()).save("/data/sample.png")
'
step predict /exports/toy/1 /data/sample.png
in_image "$IMAGE" predict /exports/toy/1 /data/sample.png --top 3
step search --help
in_image "$IMAGE" search --help | head -2

# ----- host-side checks --------------------------------------------------------------------------------------
foreign=$(find "$WORK" ! -uid "$RUN_UID" -print | head -5)
[ -z "$foreign" ] || die "files not owned by uid $RUN_UID: $foreign"
say "all $(find "$WORK" -type f | wc -l) files written are owned by uid $RUN_UID"
for f in model.keras state.json metrics.csv summary.json; do
    [ -s "$WORK/runs/toy/$f" ] || die "runs/toy/$f is missing"
done
python3 - "$WORK/exports/toy/1/verification.json" <<'EOF' || die "export verification did not pass"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["passed"] is True, report
print("docker_smoke: export verification passed: " + ", ".join(
    f"{name} max |diff| {f['max_abs_diff']:.1e}" for name, f in report["formats"].items()))
EOF
docker run --rm --network none --entrypoint python "$IMAGE" -c \
    'import importlib.util as u, sys; sys.exit(1 if [m for m in ("pytest", "ruff", "hypothesis") if u.find_spec(m)] else 0)' \
    || die "development tools found in the image"
say "no pytest, ruff or hypothesis in the image"
say "PASSED: image $IMAGE on $BASE_IMAGE, ${size_mb} MB, built in ${build_s} s"
