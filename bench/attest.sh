#!/usr/bin/env bash
# Load benchmark of the attestation service (issue 12): a simulated
# platform and `confide attest serve --insecure-http` on loopback, driven
# by bench/attestload from a separate process. All three share the cores.
#   bench/attest.sh [rounds] [attestload flags...]   (default 3 rounds)
# e.g. bench/attest.sh 3 -c 64 -n 30000
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/confide" ./cmd/confide
go build -o "$tmp/attestload" ./bench/attestload
export CONFIDE_HOME=$tmp/home

"$tmp/confide" platform init >/dev/null
"$tmp/confide" platform serve 2>"$tmp/platform.log" &
pids+=($!)
for _ in $(seq 100); do
  [ -S "$CONFIDE_HOME/platform/platform.sock" ] && break
  sleep 0.1
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
"$tmp/confide" attest serve --insecure-http --addr "$addr" >"$tmp/attest.out" 2>"$tmp/attest.log" &
pids+=($!)
for i in $(seq 100); do
  curl -sf "http://$addr/healthz" >/dev/null && break
  if [ "$i" = 100 ]; then
    echo "attestation service did not start:" >&2
    cat "$tmp/attest.log" >&2
    exit 1
  fi
  sleep 0.1
done

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load:$(uptime | sed 's/.*load average://'), $(go version | cut -d' ' -f3)"
for r in $(seq "$rounds"); do
  echo "## round $r"
  "$tmp/attestload" -server "http://$addr" "$@"
done
if grep -q 'level=ERROR' "$tmp/attest.log"; then
  echo "service errors (first 5):" >&2
  grep 'level=ERROR' "$tmp/attest.log" | head -5 >&2
fi
