#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine with Go:
# installs the outside tools the tests need (as root, with apt-get; Azurite
# with npm), then runs `go vet`, staticcheck, the package-boundary check,
# `go test -race` over the whole module and short fuzzing.
# README.md's quick start names this script; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v jing >/dev/null || need_apt+=(jing)
command -v chromium >/dev/null || need_apt+=(chromium fonts-dejavu-core)
# Debian's feedparser, for the Python interpreter Debian installs with it
# (feed's test that a third-party Atom library keeps each enclosure's sha256).
/usr/bin/python3 -c 'import feedparser' 2>/dev/null || need_apt+=(python3-feedparser)
# pip, to install moto (below) when it is missing.
command -v moto_server >/dev/null || python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
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

# moto's S3 server, which enforces IAM policies, for the permissions test
# (cmd/internal/e2e/permissions_test.go). Pinned: the test knows how this
# version checks signatures. Debian's pip needs --break-system-packages
# (older pips do not know it: then without).
moto='moto[server]==5.2.1'
if [ "$(id -u)" != 0 ] && command -v python3 >/dev/null; then
  export PATH="$(python3 -m site --user-base)/bin:$PATH" # pip --user installs there
fi
if ! command -v moto_server >/dev/null; then
  pip_install() {
    python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@" "$moto" 2>/dev/null ||
      python3 -m pip install -q --disable-pip-version-check "$@" "$moto"
  }
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "pip not found: cannot install $moto; the permissions test will skip (or fail under CI=true)" >&2
  elif [ "$(id -u)" = 0 ]; then
    echo "installing: $moto (pip)"
    pip_install || echo "could not install $moto; the permissions test will skip (or fail under CI=true)" >&2
  else
    echo "installing: $moto (pip --user)"
    pip_install --user || echo "could not install $moto; the permissions test will skip (or fail under CI=true)" >&2
  fi
fi

echo "== go vet"
go vet ./...
echo "== staticcheck (default checks)"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "== package boundaries"
mod=github.com/wptfeed/wptfeed
# imports_of PKG: the module's packages PKG imports (tests excluded).
imports_of() { go list -f '{{join .Imports "\n"}}' "$1" | grep "^$mod/" || true; }
fail=0
forbid() { # forbid PKG PATTERN REASON
  local bad
  bad=$(imports_of "$1" | grep -E "$2" || true)
  if [ -n "$bad" ]; then
    echo "$1 imports $(echo $bad): $3" >&2
    fail=1
  fi
}
only() { # only PKG PATTERN REASON: PKG imports no package of the module but those PATTERN matches
  local bad
  bad=$(imports_of "$1" | grep -vE "$2" || true)
  if [ -n "$bad" ]; then
    echo "$1 imports $(echo $bad): $3" >&2
    fail=1
  fi
}
for pkg in report feed store; do
  for p in $(go list ./$pkg/...); do
    forbid "$p" "^$mod/(cmd|internal)(/|\$)|^$mod/($(echo report feed store | tr ' ' '\n' | grep -vx $pkg | paste -sd'|'))(/|\$)" \
      "leaf packages must not import each other or the commands"
  done
done
# Leaves among the commands' packages: records, pack, chart, lease and diff
# import no other cmd/internal package.
for pkg in records pack chart lease diff; do
  forbid "./cmd/internal/$pkg" "^$mod/cmd/" "cmd/internal/$pkg is a leaf"
done
only ./cmd/internal/diff "^$mod/report\$" "cmd/internal/diff imports report only"
# changes wires diff into the ingester: of the module it imports diff,
# records, report, store and feed only, never poll, process, status,
# dashboard or ingester (process, poll and dashboard import it).
only ./cmd/internal/changes "^$mod/(cmd/internal/(diff|records)|report|store|feed)\$" \
  "cmd/internal/changes may import only diff, records, report, store and feed"
# What serves the out bucket never polls or processes; the dashboard reads
# the status index through its own interface.
for pkg in status dashboard; do
  forbid "./cmd/internal/$pkg" "^$mod/cmd/internal/(poll|process)(/|\$)" "servers must not import polling or processing"
done
forbid ./cmd/internal/dashboard "^$mod/cmd/internal/status(/|\$)" "the dashboard reads the index through its Index interface"
[ "$fail" = 0 ] || exit 1
echo "== go test -race"
go test -race -count=1 -timeout 30m ./...
echo "== fuzz (short)"
for pkg in ./report/ ./feed/ ./cmd/internal/pack/ ./cmd/internal/publisher/ ./cmd/internal/diff/ ./cmd/internal/httpx/; do
  targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
  for target in $targets; do
    go test -run='^$' -fuzz="^${target}\$" -fuzztime=10s -fuzzminimizetime=2s "$pkg"
  done
done
