#!/usr/bin/env bash
# Load + first token, decode speed and peak RSS of greedy decoding: MoeDsl (fp32 and bf16 base) against llama.cpp
# (node-llama-cpp 3.21.1, fp32 GGUF, F32 KV cache) on the same ~110M llama weights (issue 18 "Inference", issue 12
# "peak RSS"). Figures and how to read them: bench/MoeDsl.Benchmarks/README.md, "Load + first token". Usage: bench/first-token/run.sh [WORK_DIR] [RUNS]
#   WORK_DIR (default /tmp/moedsl-first-token): the checkpoint, its GGUF and node-llama-cpp are put there.
# Needs: dotnet, python3, node + npm (registry reachable for the first run), /usr/bin/time.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/tmp/moedsl-first-token}"
runs="${2:-3}"
threads=2
prompt=1,5,9,22,301,77,1000,4
mkdir -p "$work"
dotnet build "$root/src/MoeDsl.Cli/MoeDsl.Cli.csproj" -c Release -v q -nologo >/dev/null
dotnet build "$root/tools/MoeDsl.Checkpoints/MoeDsl.Checkpoints.csproj" -c Release -v q -nologo >/dev/null
moedsl="$root/src/MoeDsl.Cli/bin/Release/net10.0/moedsl"
tool="$root/tools/MoeDsl.Checkpoints/bin/Release/net10.0/MoeDsl.Checkpoints"
[ -f "$work/llama-110m/model.safetensors" ] || "$tool" --shape llama-110m --out "$work/llama-110m" >/dev/null
[ -f "$work/llama-110m-bf16/model.safetensors" ] || "$tool" --shape llama-110m --dtype bf16 --out "$work/llama-110m-bf16" >/dev/null
[ -f "$work/llama-110m.gguf" ] || python3 "$root/bench/first-token/to_gguf.py" "$work/llama-110m" "$work/llama-110m.gguf"
if [ ! -d "$work/npm/node_modules/node-llama-cpp" ]; then
  mkdir -p "$work/npm" && (cd "$work/npm" && npm i -E node-llama-cpp@3.21.1 --no-audit --no-fund >/dev/null)
fi
cp "$root/bench/first-token/llama-cpp.mjs" "$work/npm/"

# One line per run: what, new tokens, wall seconds, max RSS KB, the ids' checksum.
measure() { # label new_tokens command...
  local label=$1 n=$2; shift 2
  local out; out=$( { /usr/bin/time -f "TIME %e %M" "$@" 2>&1; } )
  local t; t=$(grep '^TIME' <<<"$out")
  local ids; ids=$(grep -E '^[0-9]+( [0-9]+)*$' <<<"$out" | tail -1)
  echo "$label new=$n wall_s=$(cut -d' ' -f2 <<<"$t") maxrss_kb=$(cut -d' ' -f3 <<<"$t") ids_md5=$(md5sum <<<"$ids" | cut -c1-8)"
}
echo "date $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), file $(stat -c %s "$work/llama-110m/model.safetensors") bytes (fp32)"
for r in $(seq "$runs"); do
  for n in 1 128; do
    measure "moedsl-fp32" $n "$moedsl" generate --model "$work/llama-110m" --prompt-ids $prompt --max-new-tokens $n --threads $threads --base-dtype fp32
    measure "moedsl-bf16" $n "$moedsl" generate --model "$work/llama-110m" --prompt-ids $prompt --max-new-tokens $n --threads $threads --base-dtype bf16
    measure "moedsl-bf16file-bf16" $n "$moedsl" generate --model "$work/llama-110m-bf16" --prompt-ids $prompt --max-new-tokens $n --threads $threads --base-dtype bf16
    measure "llama.cpp-fp32" $n node "$work/npm/llama-cpp.mjs" "$work/llama-110m.gguf" $threads $n $prompt
  done
done
