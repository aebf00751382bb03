#!/usr/bin/env bash
# Builds the Mayfly image from a built binary: deploy/container/build.sh BINARY TAG
#
# The image is FROM scratch, so the root filesystem is assembled here: the binary, exactly the
# shared libraries `ldd` says it loads, the system's CA bundle, and passwd/group entries for
# the unprivileged user 65532 ("mayfly"). Needs podman or buildah (Debian's packages work).
set -euo pipefail
binary="${1:?usage: build.sh BINARY TAG}"
tag="${2:?usage: build.sh BINARY TAG}"
here="$(cd "$(dirname "$0")" && pwd)"

if command -v podman >/dev/null; then build=(podman build); elif command -v buildah >/dev/null; then build=(buildah bud); else
  echo "build.sh: needs podman or buildah" >&2; exit 1
fi
[[ -x $binary ]] || { echo "build.sh: $binary is not an executable" >&2; exit 1; }
bundle=/etc/ssl/certs/ca-certificates.crt
[[ -f $bundle ]] || { echo "build.sh: $bundle missing (Debian: apt-get install ca-certificates)" >&2; exit 1; }

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
root="$context/rootfs"
install -D -m 0755 "$binary" "$root/usr/local/bin/mayfly"
# Every library the dynamic loader resolves, and the loader itself (which must be executable),
# at the same paths.
while read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done < <(ldd "$binary" | grep -o '/[^ ]*' | sort -u)
install -D -m 0644 "$bundle" "$root$bundle"
mkdir -p "$root/etc" "$root/tmp" "$context/data"
chmod 1777 "$root/tmp"
# The data dir, owner-only (it holds private keys); the Containerfile gives it to 65532.
chmod 0700 "$context/data"
echo "mayfly:x:65532:65532:mayfly:/var/lib/mayfly:/sbin/nologin" >"$root/etc/passwd"
echo "mayfly:x:65532:" >"$root/etc/group"
cp "$here/Containerfile" "$context/Containerfile"
# Docker format: the OCI image format has no HEALTHCHECK.
"${build[@]}" --format docker --tag "$tag" "$context"
