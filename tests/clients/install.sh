#!/usr/bin/env bash
# Installs the real Sigstore clients the client tests drive, from PyPI and npm, into
# target/clients/ (outside the source tree, like any build output):
#   target/clients/venv   sigstore-python, pinned by tests/clients/requirements.txt
#   target/clients/node   sigstore-js, @sigstore/verify and @sigstore/cli, pinned by
#                         tests/clients/package-lock.json (npm ci)
# .ci/run calls this before `cargo test`; tests/support/clients.rs calls it too (under a file
# lock), so a plain `cargo test` on a fresh clone installs what it needs. A stamp of the pin
# files makes a second run a no-op until the pins change. Any failure exits non-zero: a
# missing client fails the tests, it never skips them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="${MAYFLY_CLIENTS_DIR:-$root/target/clients}"

need() {
  command -v "$1" >/dev/null || { echo "install.sh: '$1' is required to install the test clients ($2)" >&2; exit 1; }
}
need python3 "Python 3.10 or newer, with the venv module"
need node "Node.js 20 or newer"
need npm "npm, normally installed with Node.js"

stamp_of() {
  cat "$here/requirements.txt" "$here/package.json" "$here/package-lock.json" \
    | sha256sum | cut -d' ' -f1
  python3 --version
  node --version
}
want="$(stamp_of)"
if [[ -f "$dest/stamp" && "$(cat "$dest/stamp")" == "$want" ]]; then
  exit 0
fi

echo "install.sh: installing the Sigstore test clients into $dest" >&2
rm -rf "$dest/venv" "$dest/node" "$dest/stamp"
mkdir -p "$dest/node"

python3 -m venv "$dest/venv"
"$dest/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$here/requirements.txt"

cp "$here/package.json" "$here/package-lock.json" "$dest/node/"
# The 5.x line declares Node >=22; on Node 20 npm only warns (EBADENGINE) and everything runs,
# which is what the clients reference recorded. engine-strict stays off for that reason.
(cd "$dest/node" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false)

"$dest/venv/bin/sigstore" --version >&2
test -x "$dest/node/node_modules/.bin/sigstore"
echo "$want" >"$dest/stamp"
