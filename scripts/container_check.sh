#!/usr/bin/env bash
# Build the image with podman and check it from outside, as CI does.
#
#   bash scripts/container_check.sh        (root; `make container`)
#
# These machines have no Docker engine and cannot pull public images, so:
# - podman runs with container/containers.conf (runc, fixed ulimits);
# - the base image is Debian bookworm made with debootstrap from the machine's
#   own Debian mirror (read from its apt sources), imported with podman import;
# - pip inside a build cannot verify TLS here, so the locked wheels are
#   downloaded on the host into container/wheels/ and the build has no network.
# The same Dockerfile builds unchanged elsewhere from python:3.12-slim.
# Then it runs the container read-only, checks /health, /ready and /predict (and its record)
# from outside, that it runs as non-root, that its HEALTHCHECK passes, and
# reports the image size and the time from start to ready.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-heart-risk:ci}
BASE=${BASE:-localhost/bookworm-python:latest}
PORT=${PORT:-18000}
NAME=heart-risk-check
export CONTAINERS_CONF="$PWD/container/containers.conf"
PY=${PY:-.venv/bin/python}

need=()
for tool in podman buildah debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
for pkg in fuse-overlayfs slirp4netns uidmap runc; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    podman buildah fuse-overlayfs slirp4netns uidmap runc debootstrap >/dev/null
fi

debian_mirror() {
  # The first Debian mirror the machine's apt sources name (deb822 or one-line form).
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" {print $2}'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" {print $2}'
  } | grep -E '/debian/?$' | head -n1 || true
}

if ! podman image exists "$BASE"; then
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { echo "no Debian mirror in the apt sources" >&2; exit 1; }
  rootfs=$(mktemp -d)
  echo "debootstrap bookworm (minbase + python3, python3-venv) from the machine's Debian mirror"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$mirror" >/dev/null
  tar -C "$rootfs" -c . | podman import - "$BASE" >/dev/null
  rm -rf "$rootfs"
fi

echo "downloading the locked wheels for an offline build"
"$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
  -d container/wheels -r requirements-train.lock setuptools wheel 2>&1 | { grep -v '^WARNING: Location' || true; }

echo "building $IMAGE"
build_start=$(date +%s)
podman build --quiet --format docker --network none \
  --build-arg PYTHON_IMAGE="$BASE" --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels \
  -t "$IMAGE" . >/dev/null
echo "built in $(( $(date +%s) - build_start )) s"

podman rm -f "$NAME" >/dev/null 2>&1 || true
cleanup() { podman rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

start=$(date +%s.%N)
podman run -d --name "$NAME" --read-only --tmpfs /tmp -p "127.0.0.1:$PORT:8000" "$IMAGE" >/dev/null
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
  sleep 0.1
done
ready=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null || { podman logs "$NAME"; echo "FAIL: not ready"; exit 1; }

fail() { echo "FAIL: $*"; podman logs "$NAME" | tail -n 20; exit 1; }
[ "$(curl -s "http://127.0.0.1:$PORT/health")" = '{"status":"ok"}' ] || fail "/health"
answer=$(curl -s "http://127.0.0.1:$PORT/predict" -H 'Content-Type: application/json' -d '{
  "age": 54, "sex": 1, "chest_pain_type": 4, "resting_blood_pressure": 130,
  "serum_cholesterol": 245, "fasting_blood_sugar": 0, "resting_ecg": 2,
  "max_heart_rate": 150, "exercise_induced_angina": 0, "st_depression": 1.0,
  "st_slope": 2, "num_major_vessels": 0, "thal": 3}')
python3 -c "import json,sys; a=json.loads(sys.argv[1]); assert 0 <= a['probability'] <= 1 and a['class'] in (0, 1), a" "$answer" \
  || fail "/predict answered $answer"
recorded=$(podman exec "$NAME" python -m scripts.audit export | wc -l)
[ "$recorded" = "1" ] || fail "the record holds $recorded rows, not the one /predict"
uid=$(podman exec "$NAME" python -c "import os; print(os.getuid())")
[ "$uid" != "0" ] || fail "runs as root"
podman healthcheck run "$NAME" || fail "HEALTHCHECK"
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')

echo "container OK: /health, /ready and /predict answer from outside; the answer is in the" \
     "record (volume /var/lib/heart-risk); uid $uid; HEALTHCHECK passes; read-only root filesystem"
echo "  /predict -> $answer"
echo "  image size: $(( size / 1024 / 1024 )) MiB; start to ready: ${ready} s"
