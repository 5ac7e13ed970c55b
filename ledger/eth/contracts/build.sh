#!/usr/bin/env bash
# Builds the Solidity test contracts of the Ethereum app and their Go bindings.
#
#   bash ledger/eth/contracts/build.sh           regenerate build/*.abi, build/*.bin,
#                                                token.go and probe.go in place
#   bash ledger/eth/contracts/build.sh --check   regenerate into a temporary directory
#                                                and exit 1 if any committed artifact
#                                                differs ("artifacts are current")
#
# It may be run from any directory; it works from the repository root.
# Needs: node and npm (the npm registry, for `npm ci`), and go (the Go module
# proxy or module cache, for abigen). The solc compiler is the npm package
# pinned in package.json/package-lock.json and is installed into
# ledger/eth/contracts/node_modules (git-ignored). abigen is go-ethereum's, at
# the version this module's go.mod requires; it is run with the @version form
# because running it inside this module would need go.sum entries for
# abigen's own dependencies that the module does not otherwise use.
#
# In --check mode `npm ci` is skipped when node_modules already holds the
# pinned solc, so the check runs offline once installed.
set -euo pipefail

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
dir=ledger/eth/contracts

solc_version="$(node -p "require('./$dir/package.json').dependencies.solc")"
installed="$(node -p "try { require('./$dir/node_modules/solc/package.json').version } catch (e) { '' }")"
if [[ $check -eq 0 || "$installed" != "$solc_version" ]]; then
  npm ci --prefix "$dir" --no-audit --no-fund
fi

geth_version="$(go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum)"
abigen() {
  GOFLAGS=-buildvcs=false go run "github.com/ethereum/go-ethereum/cmd/abigen@${geth_version}" "$@"
}

if [[ $check -eq 1 ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
  build="$out/build"
  gen="$out"
else
  build="$dir/build"
  gen="$dir"
  # Start from an empty build/ so that artifacts of removed contracts go away.
  rm -rf "$build"
fi

node "$dir/compile.js" --out "$build"

for name in Token Probe; do
  lower="$(tr '[:upper:]' '[:lower:]' <<<"$name")"
  abigen --v2 --abi "$build/$name.abi" --bin "$build/$name.bin" \
    --pkg contracts --type "$name" --out "$gen/$lower.go"
done

if [[ $check -eq 0 ]]; then
  echo "build.sh: wrote $dir/build/ and the Go bindings (abigen $geth_version)"
  exit 0
fi

status=0
differs() {
  echo "build.sh --check: $1 is not current; run: bash $dir/build.sh" >&2
  status=1
}
for f in "$build"/*; do
  rel="$dir/build/$(basename "$f")"
  if [[ ! -f "$rel" ]]; then
    differs "$rel (missing)"
  elif ! cmp -s "$f" "$rel"; then
    differs "$rel"
  fi
done
for f in "$dir"/build/*; do
  [[ -e "$f" ]] || continue
  if [[ ! -f "$build/$(basename "$f")" ]]; then
    differs "$f (no longer generated)"
  fi
done
for name in token probe; do
  if [[ ! -f "$dir/$name.go" ]]; then
    differs "$dir/$name.go (missing)"
  elif ! cmp -s "$gen/$name.go" "$dir/$name.go"; then
    differs "$dir/$name.go"
  fi
done
if [[ $status -eq 0 ]]; then
  echo "build.sh --check: build/ and the Go bindings are current"
fi
exit $status
