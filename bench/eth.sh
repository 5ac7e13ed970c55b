#!/usr/bin/env bash
# Coco Ethereum versus Ethereum: the same closed-loop ERC-20 workload
# (bench/ethload: deploy the Token, give each sender tokens, then senders
# transfer one unit each to random senders, each waiting for its receipt
# before the next) against
#   geth-instant  geth --dev --dev.period 0 (a block as soon as transactions
#                 are pending),
#   geth-12s      geth --dev --dev.period 12 (public Ethereum's block time;
#                 it runs max(TRANSFERS/20, 3×INFLIGHT) transfers, at most
#                 INFLIGHT per 12 s),
#   confide       `confide ledger sandbox --nodes 3 --eth`,
#   ledger-raw    the same sandbox's raw write throughput afterwards
#                 (bench/ledgerload: INFLIGHT clients writing 256 bytes through
#                 the ledger's API and waiting for the commit, 10 s; with
#                 confide only), for the EVM's cost,
# all on loopback with their data on disk, for each INFLIGHT (senders =
# INFLIGHT: each sender has one transaction in flight).
#   [TARGETS="geth-instant geth-12s confide"] bash bench/eth.sh [TRANSFERS] [INFLIGHT...]
# (defaults 5000, 64 256), e.g. TARGETS=geth-instant bash bench/eth.sh 1000 64
# geth (the go-ethereum version of go.mod) is installed into .cache/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
transfers=${1:-5000}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(64 256)
targets=" ${TARGETS:-geth-instant geth-12s confide ledger-raw} "

gethver=$(go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum)
geth=$PWD/.cache/bin/geth
# (Output captured, not piped into grep -q: under pipefail the writer's
# SIGPIPE would fail the test at random.)
if [[ ! -x $geth || $("$geth" version 2>/dev/null || true) != *"Version: ${gethver#v}-"* ]]; then
  echo "installing geth $gethver into .cache/bin (a few minutes)" >&2
  GOBIN=$PWD/.cache/bin go install "github.com/ethereum/go-ethereum/cmd/geth@$gethver"
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # The sandboxes' nodes, should a sandbox have left one behind.
  for f in "$tmp"/sb*/nodes.json; do
    [ -f "$f" ] || continue
    for p in $(python3 -c "import json,sys;print(' '.join(str(n['pid']) for n in json.load(open(sys.argv[1]))))" "$f" 2>/dev/null); do
      kill "$p" 2>/dev/null || true
    done
  done
  # The nodes started the simulated platform on demand; it would idle on.
  pkill -f "$tmp/confide platform serve" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$tmp/ethload" ./bench/ethload
ledgerload=
if [[ $targets == *" ledger-raw "* ]]; then
  (cd bench/ledgerload && go build -o "$tmp/ledgerload" .) && ledgerload=$tmp/ledgerload
fi
with_confide=1
if [[ $targets != *" confide "* ]]; then
  with_confide=0
elif ! go build -o "$tmp/confide" ./cmd/confide 2>"$tmp/confide-build.log"; then
  echo "SKIPPING confide: ./cmd/confide does not build:" >&2
  head -20 "$tmp/confide-build.log" >&2
  with_confide=0
elif [[ $("$tmp/confide" ledger sandbox --help 2>&1 || true) != *"--eth "* ]]; then
  echo "SKIPPING confide: \`confide ledger sandbox\` has no --eth yet" >&2
  with_confide=0
fi
if [ "$with_confide" = 1 ]; then
  export CONFIDE_HOME=$tmp/home
  "$tmp/confide" platform init >/dev/null
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# rpc_up URL: true once the endpoint answers eth_chainId.
rpc_up() {
  curl -sf -m 2 -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" | grep -q '"result"'
}
# stop PID: stops one process this script started and forgets it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}

results=$tmp/results.jsonl
: >"$results"
failed_runs=0

# run_geth LABEL PERIOD N: geth --dev on a fresh datadir, funded from its
# developer account, then stopped.
run_geth() {
  local label=$1 period=$2 n=$3 p dir gpid
  p=$(port)
  dir=$tmp/geth-$label-$c
  "$geth" --dev --dev.period "$period" --datadir "$dir" --ipcdisable \
    --http --http.addr 127.0.0.1 --http.port "$p" --http.api eth,net,web3 \
    --authrpc.port "$(port)" --port 0 --nodiscover --maxpeers 0 --verbosity 2 \
    >"$dir.log" 2>&1 &
  gpid=$!
  pids+=($gpid)
  for i in $(seq 150); do
    rpc_up "http://127.0.0.1:$p" && break
    if [ "$i" = 150 ] || ! kill -0 "$gpid" 2>/dev/null; then
      echo "geth did not start:" >&2
      tail -20 "$dir.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  "$tmp/ethload" -rpc "http://127.0.0.1:$p" -fund-from-node -senders "$c" -inflight "$c" \
    -transfers "$n" -label "$label" -json "$results" || { echo "ethload against $label failed" >&2; failed_runs=$((failed_runs + 1)); }
  stop "$gpid"
  rm -rf "$dir"
}

# run_confide: a 3-node sandbox with the Ethereum app, its eth.json's
# endpoint and accounts, then stopped.
run_confide() {
  local sb=$tmp/sb-$c spid rpc
  "$tmp/confide" ledger sandbox --nodes 3 --dir "$sb" --eth >"$sb.log" 2>&1 &
  spid=$!
  pids+=($spid)
  for i in $(seq 300); do
    [ -f "$sb/eth.json" ] && rpc=$(python3 -c "import json;print(json.load(open('$sb/eth.json'))['rpc_url'])" 2>/dev/null) && break
    if [ "$i" = 300 ] || ! kill -0 "$spid" 2>/dev/null; then
      echo "the confide sandbox wrote no eth.json:" >&2
      tail -20 "$sb.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  python3 -c "import json;json.dump(json.load(open('$sb/eth.json'))['accounts'], open('$sb/accounts.json','w'))"
  local tlsflags=()
  if [[ $rpc == https://* ]]; then
    tlsflags=(-cert "$sb/user0_cert.pem" -key "$sb/user0_privk.pem" -ca "$sb/service_cert.pem")
  else
    # The chain's genesis is written once a primary is elected.
    for i in $(seq 150); do
      rpc_up "$rpc" && break
      [ "$i" = 150 ] && { echo "confide's JSON-RPC ($rpc) does not answer" >&2; tail -20 "$sb.log" >&2; exit 1; }
      sleep 0.2
    done
  fi
  "$tmp/ethload" -rpc "$rpc" "${tlsflags[@]}" -accounts "$sb/accounts.json" -senders "$c" -inflight "$c" \
    -transfers "$transfers" -label confide -json "$results" || { echo "ethload against confide failed" >&2; failed_runs=$((failed_runs + 1)); }
  # The same ledger's raw write throughput: c clients writing 256 bytes
  # each through the ledger's own API and waiting for the commit
  # (bench/ledgerload, as bench/ledger.sh), for the EVM's cost.
  if [ -n "$ledgerload" ]; then
    "$ledgerload" -target confide -sandbox "$sb" -c "$c" -d 10s >"$tmp/raw.json" &&
      python3 -c "
import json
r = json.load(open('$tmp/raw.json'))
print(json.dumps({'label': 'ledger-raw', 'transfers': r['ops'], 'tps': r['per_second'], 'p50_ms': r['p50_ms'], 'p99_ms': r['p99_ms'], 'failed': r['errors'], 'inflight': $c, 'verified': r.get('receipts_verified', 0) > 0}))" >>"$results" ||
      { echo "ledgerload against confide failed" >&2; failed_runs=$((failed_runs + 1)); }
  fi
  stop "$spid"
  rm -rf "$sb"
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load:$(uptime | sed 's/.*load average://'), $(go version | cut -d' ' -f3), geth $gethver"
for c in "${counts[@]}"; do
  if [[ $targets == *" geth-instant "* ]]; then run_geth geth-instant 0 "$transfers"; fi
  slow=$((transfers / 20))
  [ "$slow" -ge $((3 * c)) ] || slow=$((3 * c))
  if [[ $targets == *" geth-12s "* ]]; then run_geth geth-12s 12 "$slow"; fi
  if [ "$with_confide" = 1 ]; then run_confide; fi
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])] if sys.argv[1] else []
by = {}
for r in rows:
    by.setdefault(r["inflight"], {})[r["label"]] = r
print()
print("| target | inflight | transfers (writes) | failed | transfers/s (writes/s) | p50 ms | p99 ms | verified | vs geth-instant |")
print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
for c in sorted(by):
    base = by[c].get("geth-instant")
    for label in ["geth-instant", "geth-12s", "confide", "ledger-raw"]:
        r = by[c].get(label)
        if r is None:
            continue
        ratio = f"{r['tps'] / base['tps']:.2f}x" if base and base["tps"] else "-"
        print(f"| {label} | {c} | {r['transfers']} | {r['failed']} | {r['tps']:,.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {'yes' if r.get('verified') else 'NO'} | {ratio} |")
PY
[ "$failed_runs" = 0 ]
