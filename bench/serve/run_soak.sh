#!/usr/bin/env bash
# Soak test: `hypencoder serve` on an index (default: the quickstart's
# 3000-package slice, built if missing), then bench/serve/soak_serve.py for
# $SECONDS_TOTAL (600) seconds of mixed valid and invalid requests at
# concurrency $CONCURRENCY (32), loopback only. Prints the soak's JSON line;
# exits 1 if a valid request got a 5xx, an invalid one anything but a 4xx,
# or resident memory grew more than 10% after warm-up.
#
#   bench/serve/run_soak.sh
#   SECONDS_TOTAL=120 INDEX=data/idx/debian-default-model bench/serve/run_soak.sh
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
seconds="${SECONDS_TOTAL:-600}"
concurrency="${CONCURRENCY:-32}"
port="${PORT:-8393}"
index="${INDEX:-}"
out="${OUT:-$root/target/bench-soak}"
mkdir -p "$out"
cargo build --release --quiet
bin=target/release/hypencoder
if [[ -z "$index" ]]; then
    index=data/indexes/debian-pkg-3000-default-model
    [[ -f "$index/manifest.json" ]] || scripts/quickstart >&2
fi
"$bin" serve --index "soak=$index" --addr "127.0.0.1:$port" > "$out/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 3000); do grep -q "listening on" "$out/serve.log" && break; sleep 0.1; done
python3 bench/serve/soak_serve.py --url "http://127.0.0.1:$port" --pid "$pid" --index soak \
    --seconds "$seconds" --concurrency "$concurrency" | tee "$out/soak.json"
