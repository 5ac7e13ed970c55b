#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need,
# vets, then runs every test. Fuzz seed corpora under testdata/fuzz are
# replayed as ordinary tests.
#
# The race detector runs where goroutines live. Package oblivious starts
# none (its documentation promises it), and its ORAM and sorting tests run
# millions of compare-exchanges that -race would slow tenfold, so it runs
# without -race, twice: as built normally, and with the obltrace tag that
# turns on its memory-access trace recorder.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null; then
  echo "test.sh: Go 1.26 or newer is required (https://go.dev/dl)" >&2
  exit 1
fi

# Debian packages the tests use: node and npm run tedious, the independent
# Always Encrypted implementation the SQL tests check against (installed
# with npm into .cache/npm); psql talks to confide's SQL server; the
# PostgreSQL 15 server runs the throw-away clusters (primary and streaming
# replica) of the stock-PostgreSQL driver tests (internal/pgtest starts
# them on free loopback ports, as the postgres user when run as root);
# gcc builds SQLite and libpg_query (cgo).
need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v psql >/dev/null || need+=(postgresql-client) # psql against confide's SQL server
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v gcc >/dev/null || need+=(gcc) # cgo: SQLite and PostgreSQL's parser
# The ML baselines the differential tests compare against (importable from
# /usr/bin/python3 only: Debian's packages).
/usr/bin/python3 -c 'import sklearn' 2>/dev/null || need+=(python3-sklearn)
/usr/bin/python3 -c 'import xgboost' 2>/dev/null || need+=(python3-xgboost)
# The web console's browser test drives Debian's chromium with
# playwright-core (npm, below; never a browser download of its own).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
# tedious (Always Encrypted) and ethers v6 (the Ethereum app's wallet
# library test) into .cache/npm.
if [ ! -f .cache/npm/node_modules/tedious/package.json ] || [ ! -f .cache/npm/node_modules/ethers/package.json ] ||
   [ ! -f .cache/npm/node_modules/playwright-core/package.json ]; then
  npm install --silent --no-audit --no-fund --prefix .cache/npm tedious@20.3.9 ethers@6.17.0 playwright-core@1.64.1
fi

# solc (WebAssembly, from npm) for the check that the Ethereum app's
# compiled test contracts are current.
if [ ! -f ledger/eth/contracts/node_modules/solc/package.json ]; then
  npm ci --silent --no-audit --no-fund --prefix ledger/eth/contracts
fi
export CONFIDE_SOLC_CHECK=1
export CONFIDE_ML_CHECK=1 # the ML baselines must run, not skip
export CONFIDE_BROWSER_CHECK=1 # the console's browser test must run, not skip

go mod download
echo "== go vet"
go vet ./...
go vet -tags obltrace ./oblivious/... ./sql/oblivq/ ./ml/obl/ ./console/
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

echo "== confide vet (leak checker on confide's own enclave code)"
go run ./cmd/confide vet ./...

no_race='/oblivious'
echo "== go test -race (all but${no_race})"
go test -race -timeout 30m $(go list ./... | grep -v "$no_race") "$@"
echo "== go test ./oblivious/... (no goroutines: without -race)"
go test -timeout 30m ./oblivious/... "$@"
echo "== go test -tags obltrace ./oblivious/... ./sql/oblivq/ ./ml/obl/ ./console/ (access traces recorded)"
go test -tags obltrace -timeout 30m ./oblivious/... ./sql/oblivq/ ./ml/obl/ ./console/ "$@"
