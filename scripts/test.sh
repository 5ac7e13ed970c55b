#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need,
# then vets and runs every test with the race detector. Fuzz seed corpora
# under testdata/fuzz are replayed as ordinary tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_go=1.26
if ! command -v go >/dev/null; then
  echo "test.sh: Go $need_go or newer is required (https://go.dev/dl)" >&2
  exit 1
fi

# Debian packages the tests use (none are needed by the enclave runtime
# yet; later subsystems add PostgreSQL, etcd, ... here).
debs=()
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

go mod download
echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
echo "== go test -race"
go test -race -timeout 30m ./... "$@"
