#!/usr/bin/env bash
# Financial analytics benchmark (issue 25): the aggregate shape of TPC-H Q1
# and Q6 over a generated lineitem (CONFIDE_BENCH_ROWS, default 1,000,000)
# with quantity, price, discount and tax encrypted, on the confide server
# (plaintext; the enclave scan cold and warm; the oblivious mode), against
# PostgreSQL 15 on plaintext and the client-side way (fetch, decrypt and
# aggregate in the client), in one run; prints the table recorded in
# docs/benchmarks.md.
#   bench/tpch.sh [count]     (default 3 queries per mode; BENCHTIME overrides)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
. bench/pg.sh

out="$tmp/bench.txt"
go test -run '^$' -bench TPCH -benchtime "${BENCHTIME:-${count}x}" -timeout 120m ./sql/driver/ | tee "$out" >&2

awk '
/^BenchmarkTPCH\// && / ns\/op/ {
  name = $1; sub(/^BenchmarkTPCH\//, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 2; i < NF; i++) {
    if ($(i + 1) == "ns/op") ns[name] = $i
    if ($(i + 1) == "cpu-ms/op") cpu[name] = $i
  }
}
function ms(n) { return (n in ns) ? sprintf("%.1f", ns[n] / 1e6) : "—" }
function c(n) { return (n in cpu) ? sprintf("%.0f", cpu[n]) : "—" }
function r(a, b) { return ((a in ns) && (b in ns)) ? sprintf("%.2fx", ns[b] / ns[a]) : "—" }
END {
  print "| query | mode | ms/query | cpu-ms/query |"
  print "|---|---|---|---|"
  split("confide-plain postgres-plain client enclave-cold enclave-warm oblivious-cold oblivious-warm enclave-per-row", modes, " ")
  for (q = 1; q <= 2; q++) {
    qn = q == 1 ? "q1" : "q6"
    for (m = 1; m <= 8; m++) if ((qn "/" modes[m]) in ns) printf "| %s | %s | %s | %s |\n", qn, modes[m], ms(qn "/" modes[m]), c(qn "/" modes[m])
  }
  print ""
  print "| query | warm / confide plain (goal ≥ 0.5x) | warm / postgres plain | cold / client-side (goal ≥ 1.5x) | oblivious cold / normal cold (goal ≥ 0.1x) |"
  print "|---|---|---|---|---|"
  for (q = 1; q <= 2; q++) {
    qn = q == 1 ? "q1" : "q6"
    printf "| %s | %s | %s | %s | %s |\n", qn, r(qn "/enclave-warm", qn "/confide-plain"), r(qn "/enclave-warm", qn "/postgres-plain"), r(qn "/enclave-cold", qn "/client"), r(qn "/oblivious-cold", qn "/enclave-cold")
  }
  print ""
  print "Ratios are throughput ratios (time of the second / time of the first)."
}' "$out"
