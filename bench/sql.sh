#!/usr/bin/env bash
# Always Encrypted SQL benchmark (issue 19): the confide server (plaintext,
# deterministic, randomized columns) and PostgreSQL 15 (plaintext), driven by
# the same driver in one run; prints the table recorded in docs/benchmarks.md.
#   bench/sql.sh [count]     (default 3 runs of each benchmark; BENCHTIME=5s each)
#
# Installs Debian's postgresql if missing, starts a throw-away cluster as the
# postgres user on a free loopback port and removes it on exit. Durability:
# the cluster keeps fsync=on but sets synchronous_commit=off, the match for
# the confide server's SQLite (WAL, synchronous=NORMAL: a commit is not
# flushed, the WAL is synced at checkpoints); PostgreSQL's default
# (synchronous_commit=on) is measured too, for inserts
# (postgres/plain/insert-synccommit).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
. bench/pg.sh

out="$tmp/bench.txt"
go test -run '^$' -bench "${BENCH:-SQL}" -benchtime "${BENCHTIME:-5s}" -count "$count" -timeout 60m ./sql/driver/ | tee "$out" >&2

go run ./bench/benchtab < "$out"
echo
# Per operation: median ops/s of each mode, and throughput ratios.
awk '
function median(name,   n, i, j, t, v) {
  n = split(times[name], v, " ")
  for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
  return v[int(n / 2) + 1] + 0
}
function ops(name) { return (name in times) ? sprintf("%.0f", 1e9 / median(name)) : "—" }
function ratio(a, b) { return ((a in times) && (b in times)) ? sprintf("%.2fx", median(b) / median(a)) : "—" }
/^BenchmarkSQL\// && / ns\/op/ {
  name = $1; sub(/^BenchmarkSQL\//, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 2; i < NF; i++) {
    if ($(i + 1) == "ns/op") times[name] = times[name] " " $i
    if ($(i + 1) == "cpu-µs/op") cpu[name] = cpu[name] " " $i
  }
}
function cmedian(name,   n, i, j, t, v) {
  n = split(cpu[name], v, " ")
  for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
  return v[int(n / 2) + 1] + 0
}
function cus(name) { return (name in cpu) ? sprintf("%.1f", cmedian(name)) : "—" }
function cratio(a, b) { return ((a in cpu) && (b in cpu)) ? sprintf("%.2fx", cmedian(b) / cmedian(a)) : "—" }
END {
  print "| operation | confide plain ops/s | confide det ops/s | confide rand ops/s | postgres plain ops/s | det/plain | rand/plain | confide plain/postgres |"
  print "|---|---|---|---|---|---|---|---|"
  split("point-key point-ssn insert join", opsl, " ")
  for (k = 1; k <= 4; k++) {
    o = opsl[k]; p = "confide/plain/" o; d = "confide/det/" o; r = "confide/rand/" o; g = "postgres/plain/" o
    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", o, ops(p), ops(d), ops(r), ops(g), ratio(d, p), ratio(r, p), ratio(p, g)
  }
  g = "postgres/plain/insert-synccommit"
  if (g in times) printf "| insert, postgres synchronous_commit=on | | | | %s | | | %s |\n", ops(g), ratio("confide/plain/insert", g)
  print ""
  print "Stock PostgreSQL through the same driver, column encryption on (issue 16):"
  print ""
  print "| operation | postgres plain ops/s | postgres det ops/s | postgres rand ops/s | det/plain | rand/plain |"
  print "|---|---|---|---|---|---|"
  for (k = 1; k <= 4; k++) {
    o = opsl[k]; p = "postgres/plain/" o; d = "postgres/det/" o; r = "postgres/rand/" o
    printf "| %s | %s | %s | %s | %s | %s |\n", o, ops(p), ops(d), ops(r), ratio(d, p), ratio(r, p)
  }
  print ""
  print "CPU time per operation (client and confide server in one process; median µs), and the CPU-bound throughput ratio:"
  print ""
  print "| operation | confide plain cpu-µs | confide det cpu-µs | confide rand cpu-µs | det/plain | rand/plain |"
  print "|---|---|---|---|---|---|"
  for (k = 1; k <= 4; k++) {
    o = opsl[k]; p = "confide/plain/" o; d = "confide/det/" o; r = "confide/rand/" o
    printf "| %s | %s | %s | %s | %s | %s |\n", o, cus(p), cus(d), cus(r), cratio(d, p), cratio(r, p)
  }
  print ""
  print "Ratios are throughput ratios (median time of the second / median time of the first); goals: det/plain >= 0.85x for point lookups, >= 0.8x for inserts."
}' "$out"
