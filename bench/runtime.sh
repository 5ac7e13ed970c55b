#!/usr/bin/env bash
# Benchmarks of the enclave runtime (issue 11), side by side with their
# peers in one run; prints the table recorded in docs/benchmarks.md.
#   bench/runtime.sh [count]     (default 5 runs of each benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
out=$(mktemp)
go test -run '^$' -bench . -benchtime 1s -count "$count" \
  ./enclave/sim/ ./enclave/snp/ ./enclave/tdx/ ./enclave/ecall/ ./seal/ ./attest/atls/ | tee "$out" >&2
go run ./bench/benchtab \
  -pair Seal/confide=Seal/aesgcm \
  -pair Unseal/confide=Unseal/aesgcm \
  -pair Handshake/atls-cold=Handshake/tls13 -pair Handshake/atls-warm=Handshake/tls13 -pair Handshake/atls-mutual-cold=Handshake/tls13 \
  -pair ECall/out-of-process=ECall/in-process < "$out"
rm -f "$out"
