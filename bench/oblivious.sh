#!/usr/bin/env bash
# Benchmarks of the oblivious library (issue 20), side by side with their
# peers in one run; prints the table recorded in docs/benchmarks.md.
#   bench/oblivious.sh [count]     (default 3 runs of each benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
out=$(mktemp)
go test -run '^$' -bench 'Sort|ORAM|TreePredict' -benchtime 1s -count "$count" -timeout 60m ./oblivious/ | tee "$out" >&2
go run ./bench/benchtab \
  -pair Sort/oblivious=Sort/slices \
  -pair TreePredict/tree/public=TreePredict/tree/naive \
  -pair TreePredict/tree/secret=TreePredict/tree/naive \
  -pair TreePredict/ensemble100/public=TreePredict/ensemble100/naive \
  -pair TreePredict/ensemble100/secret=TreePredict/ensemble100/naive < "$out"
rm -f "$out"
