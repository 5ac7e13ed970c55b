#!/usr/bin/env bash
# Committed-write benchmark of the confidential ledger (issue 17): a
# 3-node confide ledger sandbox and a 3-node etcd cluster (Debian's
# etcd-server), both on loopback with their data on disk, syncing as they
# ship; closed-loop clients write 256 bytes and wait for the commit
# (confide: covered by a committed signature, receipts verified after).
#   [ROUNDS=n] bench/ledger.sh [seconds per point] [client counts...]
# e.g. ROUNDS=3 bench/ledger.sh 10 1 16 64 256
# Each client count runs etcd, etcd with TLS, then confide, ROUNDS times in turn (the
# machine's speed drifts; alternating keeps the comparison fair), and the
# table shows the median of each.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 16 64 256)

if ! command -v etcd >/dev/null; then
  echo "installing etcd-server (Debian)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq etcd-server >/dev/null; else sudo apt-get install -y -qq etcd-server >/dev/null; fi
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # The nodes started the simulated platform on demand; it would idle on.
  pkill -f "$tmp/confide platform serve" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/confide" ./cmd/confide
(cd bench/ledgerload && go build -o "$tmp/ledgerload" .)
export CONFIDE_HOME=$tmp/home
"$tmp/confide" platform init >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# etcd: three members, data under $tmp (disk), default fsync behaviour.
declare -a cp pp etcd_pids
cluster=""
for i in 1 2 3; do
  cp[$i]=$(port); pp[$i]=$(port)
  cluster+="n$i=http://127.0.0.1:${pp[$i]},"
done
cluster=${cluster%,}
endpoints=""
for i in 1 2 3; do
  etcd --name "n$i" --data-dir "$tmp/etcd$i" \
    --listen-client-urls "http://127.0.0.1:${cp[$i]}" --advertise-client-urls "http://127.0.0.1:${cp[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${pp[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pp[$i]}" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token bench \
    >"$tmp/etcd$i.log" 2>&1 &
  pids+=($!)
  etcd_pids+=($!)
  endpoints+="127.0.0.1:${cp[$i]},"
done
endpoints=${endpoints%,}

# etcd with TLS: the same cluster shape, but clients and peers speak TLS
# with certificates both ways (--client-cert-auth, --peer-client-cert-auth),
# as confide's clients and nodes do. ECDSA P-256 keys, as confide's.
mkdir -p "$tmp/pki"
(
  cd "$tmp/pki"
  openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
  openssl req -x509 -new -key ca-key.pem -subj /CN=bench-ca -days 2 -out ca.pem
  for n in server client; do
    openssl ecparam -name prime256v1 -genkey -noout -out "$n-key.pem"
    openssl req -new -key "$n-key.pem" -subj "/CN=$n" -out "$n.csr"
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$n.ext"
    openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile "$n.ext" -out "$n.pem"
  done
) 2>/dev/null
declare -a tcp tpp etcd_tls_pids
tcluster=""
for i in 1 2 3; do
  tcp[$i]=$(port); tpp[$i]=$(port)
  tcluster+="t$i=https://127.0.0.1:${tpp[$i]},"
done
tcluster=${tcluster%,}
tendpoints=""
pki=$tmp/pki
for i in 1 2 3; do
  etcd --name "t$i" --data-dir "$tmp/etcdtls$i" \
    --listen-client-urls "https://127.0.0.1:${tcp[$i]}" --advertise-client-urls "https://127.0.0.1:${tcp[$i]}" \
    --listen-peer-urls "https://127.0.0.1:${tpp[$i]}" --initial-advertise-peer-urls "https://127.0.0.1:${tpp[$i]}" \
    --initial-cluster "$tcluster" --initial-cluster-state new --initial-cluster-token benchtls \
    --cert-file "$pki/server.pem" --key-file "$pki/server-key.pem" --client-cert-auth --trusted-ca-file "$pki/ca.pem" \
    --peer-cert-file "$pki/server.pem" --peer-key-file "$pki/server-key.pem" --peer-client-cert-auth --peer-trusted-ca-file "$pki/ca.pem" \
    >"$tmp/etcdtls$i.log" 2>&1 &
  pids+=($!)
  etcd_tls_pids+=($!)
  tendpoints+="127.0.0.1:${tcp[$i]},"
done
tendpoints=${tendpoints%,}

"$tmp/confide" ledger sandbox --nodes 3 --dir "$tmp/sb" >"$tmp/sandbox.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do
  if [ -f "$tmp/sb/nodes.json" ] && curl -sf --cacert "$tmp/sb/service_cert.pem" --cert "$tmp/sb/user0_cert.pem" --key "$tmp/sb/user0_privk.pem" \
      "https://$(python3 -c "import json;print(json.load(open('$tmp/sb/nodes.json'))[0]['rpc_address'])")/app/collections" >/dev/null; then
    break
  fi
  [ "$i" = 100 ] && { echo "the ledger did not start" >&2; cat "$tmp/sandbox.log" >&2; exit 1; }
  sleep 0.2
done
sleep 1

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load:$(uptime | sed 's/.*load average://'), $(go version | cut -d' ' -f3), $(etcd --version | head -1)"
results=$tmp/results.jsonl
# cpu PIDS: the CPU seconds (user + system) the processes have used.
cpu() { python3 -c "
import os, sys
t = 0
for p in sys.argv[1:]:
    f = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()
    t += int(f[11]) + int(f[12])
print(t / os.sysconf('SC_CLK_TCK'))" $1; }
# run TARGET PIDS FLAGS...: one load run; adds the servers' CPU time per
# committed write (µs) to its JSON line.
run() {
  local target=$1 servers=$2
  shift 2
  local before after
  # The previous target's background work (etcd's backend commits and
  # snapshots, confide's snapshot encoding, either's garbage collection)
  # settles first, so that no run pays for the one before it.
  sleep "${SETTLE:-2}"
  before=$(cpu "$servers")
  "$tmp/ledgerload" -target "$target" -c "$c" -d "${secs}s" "$@" >"$tmp/run.json"
  after=$(cpu "$servers")
  python3 -c "
import json, sys
r = json.load(open('$tmp/run.json'))
# The run lasts its warm-up second too; count the writes of both.
r['server_cpu_us_per_write'] = round(($after - $before) * 1e6 / max(1, r['ops'] * (r['seconds'] + 1) / r['seconds']), 1)
print(json.dumps(r))" | tee -a "$results"
}
for c in "${counts[@]}"; do
  for _ in $(seq "${ROUNDS:-1}"); do
    run etcd "${etcd_pids[*]}" -endpoints "$endpoints"
    run etcd "${etcd_tls_pids[*]}" -endpoints "$tendpoints" -etcd-tls "$pki" -label etcd-tls
    run confide "$(python3 -c "import json;print(' '.join(str(n['pid']) for n in json.load(open('$tmp/sb/nodes.json'))))")" -sandbox "$tmp/sb"
  done
done
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["clients"], {}).setdefault(r["target"], []).append(r)
def median(runs):
    runs = sorted(runs, key=lambda r: r["per_second"])
    return runs[len(runs) // 2]
print()
print("| clients | etcd writes/s | etcd (TLS) writes/s | confide writes/s | confide / etcd | confide / etcd (TLS) | p50 / p99 ms etcd, etcd (TLS), confide | server CPU µs/write etcd, etcd (TLS), confide | receipts verified |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in sorted(by):
    if "etcd" not in by[c] or "confide" not in by[c] or "etcd-tls" not in by[c]:
        continue
    e, t, f = median(by[c]["etcd"]), median(by[c]["etcd-tls"]), median(by[c]["confide"])
    if any(r.get("receipts_verified", 0) == 0 for r in by[c]["confide"]):
        f = dict(f, receipts_verified=0)
    print(f"| {c} | {e['per_second']:,.0f} | {t['per_second']:,.0f} | {f['per_second']:,.0f} | {f['per_second']/e['per_second']:.2f}x | {f['per_second']/t['per_second']:.2f}x | "
          f"{e['p50_ms']:.1f} / {e['p99_ms']:.1f}, {t['p50_ms']:.1f} / {t['p99_ms']:.1f}, {f['p50_ms']:.1f} / {f['p99_ms']:.1f} | "
          f"{e['server_cpu_us_per_write']:.0f}, {t['server_cpu_us_per_write']:.0f}, {f['server_cpu_us_per_write']:.0f} | {f.get('receipts_verified', 0)} |")
PY
