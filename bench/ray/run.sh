#!/usr/bin/env bash
# Ray's overhead on encoding (bench/ray/README.md): `hypencoder index` alone
# against hypencoder.ray.encode_corpus with 1 and 2 actors, same corpus and
# model, one run. DOCS (default 2000) documents of debian-pkg; the package
# is installed into VENV (default target/py-test-venv, as scripts/test makes).
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
docs="${DOCS:-2000}"
venv="${VENV:-$root/target/py-test-venv}"
corpus="${CORPUS:-data/debian-pkg/corpus.jsonl}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import hypencoder, ray" 2>/dev/null || "$venv/bin/pip" install --quiet "./crates/python[ray]"
cargo build --release --quiet -p hypencoder-cli
work="$(mkdir -p target/bench-ray && realpath target/bench-ray)"
head -n "$docs" "$corpus" > "$work/corpus.jsonl"
echo "start: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$venv/bin/python" bench/ray/ray_encode.py --corpus "$work/corpus.jsonl" --bin target/release/hypencoder ${MODEL:+--model "$MODEL"}
echo "end: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
