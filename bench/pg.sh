# Sourced by the benchmark scripts: installs Debian's postgresql if
# missing, starts a throw-away cluster as the postgres user on a free
# loopback port (fsync=on, synchronous_commit=off) and removes it on exit;
# exports CONFIDE_BENCH_PG and leaves a scratch directory in $tmp.
pgbin=/usr/lib/postgresql/15/bin

if [ ! -x "$pgbin/initdb" ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi

tmp=$(mktemp -d)
chown postgres:postgres "$tmp"
chmod 0755 "$tmp"
pg() { runuser -u postgres -- "$@"; }
cleanup() {
  if [ -f "$tmp/pg/postmaster.pid" ]; then
    pg "$pgbin/pg_ctl" -D "$tmp/pg" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg "$pgbin/initdb" -D "$tmp/pg" -A trust -U postgres -E UTF8 --no-instructions >/dev/null
pg "$pgbin/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w \
  -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c synchronous_commit=off" start >/dev/null
pg "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres bench
export CONFIDE_BENCH_PG="postgres://postgres@127.0.0.1:$port/bench?sslmode=disable"
psql -h 127.0.0.1 -p "$port" -U postgres -d bench -Atc \
  "SELECT 'postgres ' || current_setting('server_version') || ': fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit') || ' wal_sync_method=' || current_setting('wal_sync_method') || ' shared_buffers=' || current_setting('shared_buffers') || ' max_parallel_workers_per_gather=' || current_setting('max_parallel_workers_per_gather')" >&2
