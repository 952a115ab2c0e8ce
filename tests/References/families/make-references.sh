#!/usr/bin/env bash
# Regenerates tests/References/families/<family>.json: writes each family's tiny checkpoint with the repo's tool
# (tools/MoeDsl.Checkpoints) and runs the independent float64 PyTorch forward (reference.py) on it.
# Needs: apt-get install -y python3-torch python3-numpy (Debian 12: torch 1.13.1). CI never runs this; it runs the
# committed outputs against the C# forward (tests/MoeDsl.Runtime.Tests/Families/FamilyOracleTests.cs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dotnet build "$root/tools/MoeDsl.Checkpoints/MoeDsl.Checkpoints.csproj" -c Release -v q -nologo >/dev/null
tool="$root/tools/MoeDsl.Checkpoints/bin/Release/net10.0/MoeDsl.Checkpoints.dll"
for family in llama mistral qwen2 qwen3 gemma gemma2 phi3; do
  dotnet "$tool" --shape "$family" --out "$work/$family" >/dev/null
  /usr/bin/python3 "$here/reference.py" "$work/$family" "$here/$family.json"
done
