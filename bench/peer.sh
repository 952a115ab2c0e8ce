#!/bin/bash
# Side-by-side train-step comparison with the PyTorch peer (../shared/peer, issue 18): for each round and each thread
# count, the peer (MixLoRA and LoRA, its own medians) and MoeDsl's same two steps (bench --steps-of), alternating (order
# flipped every round); then
# the medians over rounds and one RATIO line per method and thread count (peer ms / MoeDsl ms, higher = MoeDsl faster).
# usage: bench/peer.sh [rounds (default 3)] [threads (default "1 2")]
# needs: ../shared/peer/setup.sh run once (Debian's python3-torch), and a Release build of bench/MoeDsl.Benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-1 2}
peer=../shared/peer/peer_bench.py
bench=bench/MoeDsl.Benchmarks/bin/Release/net10.0/MoeDsl.Benchmarks.dll
[ -f "$peer" ] || { echo "error: $peer not found: the peer benchmark lives in ../shared/peer" >&2; exit 2; }
[ -f "$bench" ] || { echo "error: $bench not built: run dotnet build bench/MoeDsl.Benchmarks -c Release" >&2; exit 2; }
log=$(mktemp)
for r in $(seq "$rounds"); do
  for t in $threads; do
    run_peer() { /usr/bin/python3 "$peer" --threads "$t" --reps 5 | grep PEER_RESULT | tee -a "$log"; }
    run_ours() { for m in lora mixlora; do dotnet "$bench" --quick --threads "$t" --steps-of "$m" --reps 8 | grep '^STEPS' | tee -a "$log"; done; }
    # The order flips every round: whichever runs second meets a machine the first one just warmed (or throttled).
    if (( r % 2 )); then run_peer; run_ours; else run_ours; run_peer; fi
  done
done
python3 - "$log" <<'PY'
import re, statistics, sys
peer, ours = {}, {}
for line in open(sys.argv[1]):
    if line.startswith("PEER_RESULT"):
        kv = dict(p.split("=") for p in line.split()[1:])
        t = int(kv["threads"])
        peer.setdefault((t, "lora"), []).append(float(kv["lora_ms"]))
        peer.setdefault((t, "mixlora"), []).append(float(kv["mixlora_ms"]))
    elif line.startswith("STEPS"):
        kv = dict(p.split("=") for p in line.split()[1:])
        ours.setdefault((int(kv["threads"]), kv["method"]), []).append(float(kv["ms"]))
print("| method | threads | peer ms (median of rounds) | MoeDsl ms | peer / MoeDsl |")
print("|---|---:|---:|---:|---:|")
for key in sorted(ours):
    p, o = statistics.median(peer[key]), statistics.median(ours[key])
    print(f"| {key[1]} | {key[0]} | {p:.1f} | {o:.1f} | {p / o:.3f} |")
for key in sorted(ours):
    p, o = statistics.median(peer[key]), statistics.median(ours[key])
    print(f"RATIO peer_over_ours_{key[1]} threads={key[0]} {p / o:.3f}")
PY
rm -f "$log"
