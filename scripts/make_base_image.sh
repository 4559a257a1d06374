#!/usr/bin/env bash
# Build a local Debian base image with Python 3 for the nao-tf Dockerfile, without pulling any public image.
#
# Why: on machines that cannot reach Docker Hub, `docker build` has no `python:3.11-slim` to start from. This
# makes an equivalent base from Debian's own archive with debootstrap (Debian bookworm: Python 3.11) and
# imports it into the local daemon:
#
#   sudo scripts/make_base_image.sh                       # -> local/bookworm-py
#   docker build --network host --build-arg BASE_IMAGE=local/bookworm-py -t nao-tf .
#
# Where HTTPS goes through an intercepting proxy, pip inside the build trusts only the CAs of the image: the
# host's CA bundle (CA_BUNDLE, default /etc/ssl/certs/ca-certificates.crt) is baked in and pip is pointed at
# it, so `docker build` reaches the same package index as the host.
#
# Environment: IMAGE (local/bookworm-py), SUITE (bookworm), MIRROR (http://deb.debian.org/debian),
# CA_BUNDLE (/etc/ssl/certs/ca-certificates.crt). Needs root, debootstrap and a running Docker daemon.
set -euo pipefail

IMAGE=${IMAGE:-local/bookworm-py}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

die() { echo "make_base_image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap); run with sudo"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
docker info >/dev/null 2>&1 || die "no Docker daemon answers: start one (e.g. dockerd &)"
[ -r "$CA_BUNDLE" ] || die "CA bundle $CA_BUNDLE not readable: set CA_BUNDLE"

ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/nao-tf-rootfs.XXXXXX")
chmod 755 "$ROOTFS"  # it becomes the image's /: mktemp's 0700 would lock every non-root --user out
cleanup() {  # debootstrap mounts /proc and /sys inside; never follow a mount while deleting
    for m in proc sys dev/pts; do umount -l "$ROOTFS/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

echo "make_base_image: debootstrap $SUITE into $ROOTFS"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log" >&2; die "debootstrap failed"; }
rm -f "$ROOTFS.log"

# The host's CAs, trusted by pip (PIP_CERT is set in the image too, for tools that ignore pip.conf).
install -m 0644 "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOTFS/etc/pip.conf"

# Keep the image small: package caches and lists are not needed to run or to pip install.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
    "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*

tar -C "$ROOTFS" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
echo "make_base_image: $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
