#!/usr/bin/env bash
# Regenerate the golden SMPP vectors (smpplib.json, node_smpp.json) from the
# pinned third-party libraries.  Not run in CI: the JSON files are committed data.
#
#   bash proto/tests/golden/gen.sh
#
# Installs into <repo>/target/golden-venv (python) and <repo>/target/golden-node
# (npm ci from package-lock.json).  Idempotent and deterministic: running it
# twice leaves the JSON byte-for-byte unchanged.
# Override the interpreters with PYTHON=... / NODE=... if needed.
set -euo pipefail

SMPPLIB_VERSION=2.2.4 # keep in step with README.md
SIX_VERSION=1.17.0    # smpplib's only dependency

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../../.." && pwd))"
VENV="$ROOT/target/golden-venv"
NODE_DIR="$ROOT/target/golden-node"
PYTHON="${PYTHON:-python3}"
NODE="${NODE:-node}"

echo "== tools"
"$PYTHON" --version
echo "node $("$NODE" --version)"
echo "npm $(npm --version 2>/dev/null)"

echo "== python: smpplib==$SMPPLIB_VERSION in target/golden-venv"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "smpplib==$SMPPLIB_VERSION" "six==$SIX_VERSION"

echo "== node: npm ci in target/golden-node"
mkdir -p "$NODE_DIR"
cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== generate"
"$VENV/bin/python" "$HERE/gen_smpplib.py" "$tmp/smpplib.json"
NODE_PATH="$NODE_DIR/node_modules" "$NODE" "$HERE/gen_node.js" "$tmp/node_smpp.json"

echo "== cross-check: python decoder over both files"
"$VENV/bin/python" "$HERE/gen_smpplib.py" --verify "$tmp/smpplib.json" "$tmp/node_smpp.json"

for f in smpplib.json node_smpp.json; do
    if cmp -s "$tmp/$f" "$HERE/$f"; then
        echo "$f: unchanged"
    else
        mv "$tmp/$f" "$HERE/$f"
        echo "$f: written"
    fi
done
