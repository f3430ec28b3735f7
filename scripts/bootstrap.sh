#!/usr/bin/env bash
# Bring a fresh Debian machine (Python 3.11+, Node 20) to a working flowcheck checkout:
# a virtualenv with flowcheck and its dev tools, Graphviz, the Node packages of
# conformance/ (real XState, TypeScript, buf) and, with --browser, Chromium for the
# browser tests. Idempotent and quick when nothing changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WANT_BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --browser) WANT_BROWSER=1 ;;
    *) echo "bootstrap: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf 'bootstrap: %s\n' "$*" >&2; }

apt_install() {
  local SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      say "need root to install $* (apt-get install -y $*)"; exit 2
    fi
  fi
  if [ ! -f /tmp/.flowcheck-apt-updated ]; then
    $SUDO apt-get update -qq >&2 && touch /tmp/.flowcheck-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "flowcheck needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))"; exit 2
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi

STAMP=.venv/.flowcheck-installed
HASH="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  say "installing flowcheck and its dev tools into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >&2
  # The distribution was once named flowcheck, a name that belongs to another project on
  # the package index: remove that install so only flowcheck-statecharts provides the package.
  .venv/bin/python -m pip uninstall -q -y flowcheck >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e '.[dev]' >&2
  echo "$HASH" > "$STAMP"
fi

if ! command -v dot >/dev/null; then
  say "installing Graphviz"
  apt_install graphviz
fi

if [ "$WANT_BROWSER" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium for the browser tests"
  apt_install chromium
fi

if command -v npm >/dev/null; then
  LOCK_HASH="$(sha256sum conformance/package-lock.json | cut -d' ' -f1)"
  NSTAMP=conformance/node_modules/.flowcheck-installed
  if [ ! -f "$NSTAMP" ] || [ "$(cat "$NSTAMP")" != "$LOCK_HASH" ]; then
    say "installing the Node packages of conformance/ (npm ci)"
    (cd conformance && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$LOCK_HASH" > "$NSTAMP"
  fi
  LOCK_HASH="$(sha256sum examples/frontend/package-lock.json | cut -d' ' -f1)"
  NSTAMP=examples/frontend/node_modules/.flowcheck-installed
  if [ ! -f "$NSTAMP" ] || [ "$(cat "$NSTAMP")" != "$LOCK_HASH" ]; then
    say "installing the Node packages of examples/frontend/ (npm ci)"
    (cd examples/frontend && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$LOCK_HASH" > "$NSTAMP"
  fi
else
  say "npm not found: install Node.js 20 (the conformance tests run real XState)"; exit 2
fi
