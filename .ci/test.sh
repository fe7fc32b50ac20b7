#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine with Go:
# installs the outside tools the tests need (as root, with apt-get; Azurite
# with npm), then runs `go vet` and `go test` over the whole module.
# README.md's quick start names this script; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v jing >/dev/null || need_apt+=(jing)
command -v chromium >/dev/null || need_apt+=(chromium fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "not root: cannot install ${need_apt[*]}; tests that need them will skip (or fail under CI=true)" >&2
  fi
fi

# Azurite, the Azure Blob emulator the store's conformance suite and the
# end-to-end tests start on 127.0.0.1 (S3 and GCS emulators run in process).
# Global install as root; otherwise into the user's cache, put on PATH.
azurite=azurite@3.35.0
if ! command -v azurite-blob >/dev/null; then
  if ! command -v npm >/dev/null; then
    echo "npm not found: cannot install azurite; the Azure tests will skip (or fail under CI=true)" >&2
  elif [ "$(id -u)" = 0 ]; then
    echo "installing: $azurite (npm install -g)"
    npm install -g --no-fund --no-audit --no-update-notifier --loglevel=error "$azurite" >/dev/null
  else
    dir="${XDG_CACHE_HOME:-$HOME/.cache}/wptfeed/azurite"
    if [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
      echo "installing: $azurite into $dir"
      npm install --prefix "$dir" --no-save --no-fund --no-audit --no-update-notifier --loglevel=error "$azurite" >/dev/null
    fi
    export PATH="$dir/node_modules/.bin:$PATH"
  fi
fi

echo "== go vet"
go vet ./...
echo "== package boundaries"
for pkg in report feed store; do
  for other in report feed store cmd; do
    [ "$pkg" = "$other" ] && continue
    if go list -f '{{join .Imports "\n"}}' ./$pkg/... | grep -q "^github.com/wptfeed/wptfeed/$other"; then
      echo "package $pkg imports $other: leaf packages must not import each other" >&2
      exit 1
    fi
  done
done
echo "== go test"
go test -count=1 -timeout 20m ./...
echo "== fuzz (short)"
for pkg in ./report/ ./feed/ ./cmd/internal/ingester/; do
  targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
  for target in $targets; do
    go test -run='^$' -fuzz="^${target}\$" -fuzztime=10s -fuzzminimizetime=2s "$pkg"
  done
done
