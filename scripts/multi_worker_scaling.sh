#!/usr/bin/env bash
# Seconds per training step with one worker and with two workers on this machine (127.0.0.1), same global
# batch, printed as JSON. Two workers on one machine share its cores and add an all-reduce per step, so this
# measures the overhead of MultiWorkerMirroredStrategy, not the speed-up of two machines (docs/deployment.md
# has the expected scaling across machines).
#
#   scripts/multi_worker_scaling.sh            # LAYERS=1 CHANNELS=8 BATCH=32 STEPS=20
set -euo pipefail

LAYERS=${LAYERS:-1}
CHANNELS=${CHANNELS:-8}
BATCH=${BATCH:-32}
STEPS=${STEPS:-20}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nao-tf-scaling.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ARGS=(train NAONet-B --layers "$LAYERS" --channels "$CHANNELS" --batch-size "$BATCH" --steps-per-epoch "$STEPS"
      --epochs 2 --valid-size "$BATCH" --quiet --json --seed 0)

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

env -u TF_CONFIG nao-tf "${ARGS[@]}" --out "$WORK/one" >/dev/null
P0=$(port); P1=$(port)
for i in 0 1; do
    TF_CONFIG="{\"cluster\": {\"worker\": [\"127.0.0.1:$P0\", \"127.0.0.1:$P1\"]}, \"task\": {\"type\": \"worker\", \"index\": $i}}" \
        nao-tf "${ARGS[@]}" --out "$WORK/two" >"$WORK/worker$i.json" &
done
wait

# The second epoch: the first one includes tracing the step functions.
python3 - "$WORK" "$STEPS" "$BATCH" <<'EOF'
import csv, json, sys
work, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def per_step(run):
    rows = list(csv.DictReader(open(f"{work}/{run}/metrics.csv")))
    return float(rows[-1]["seconds"]) / steps
one, two = per_step("one"), per_step("two")
print(json.dumps({"global_batch": batch, "steps": steps, "one_worker_s_per_step": round(one, 4),
                  "two_workers_s_per_step": round(two, 4), "speedup": round(one / two, 3)}))
EOF
