#!/usr/bin/env bash
# Lint the .proto contracts with buf (the STANDARD rules, configured in proto/buf.yaml).
# buf comes from the npm package @bufbuild/buf pinned in conformance/package.json
# (scripts/bootstrap.sh installs it). Exits non-zero when a rule fails.
# Usage: scripts/buf-lint.sh [PROTO_DIR]   (default: proto, relative to the repository root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

buf="$root/conformance/node_modules/.bin/buf"
if [[ ! -x "$buf" ]]; then
    echo "buf-lint: $buf not found; run scripts/bootstrap.sh (or npm ci --prefix conformance)" >&2
    exit 2
fi

target="${1:-proto}"
"$buf" lint "$target"
echo "buf lint: $target passes"
