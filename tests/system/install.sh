#!/usr/bin/env bash
# Installs the system packages the tests use, from Debian's packages, and checks the services
# they talk to. Idempotent: `apt-get update` and `apt-get install` run only when something is
# missing. .ci/run calls this before the tests; a missing package fails the run, never skips
# a test.
#   softhsm2  SoftHSM2, the PKCS#11 token the HSM tests use (libsofthsm2, softhsm2-util)
#   opensc    pkcs11-tool, with which the tests check keys as an operator would
#   chromium  headless Chromium, the real browser tests/explorer.rs drives
#   podman    builds deploy/container's image in tests/deploy.rs
#   systemd   systemd-analyze, which checks deploy/mayfly.service in tests/deploy.rs
#   wrk       the generic load tool `mayfly bench bodies` writes its script for (tests/bench_bodies.rs)
set -euo pipefail

packages=(softhsm2 opensc chromium podman systemd wrk)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "tests/system/install.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "tests/system/install.sh: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

module=""
for candidate in /usr/lib/softhsm/libsofthsm2.so "/usr/lib/$(uname -m)-linux-gnu/softhsm/libsofthsm2.so"; do
    if [[ -e $candidate ]]; then module=$candidate; break; fi
done
[[ -n $module ]] || { echo "tests/system/install.sh: libsofthsm2.so not found after installing softhsm2" >&2; exit 1; }
command -v softhsm2-util >/dev/null || { echo "tests/system/install.sh: softhsm2-util missing" >&2; exit 1; }
command -v pkcs11-tool >/dev/null || { echo "tests/system/install.sh: pkcs11-tool missing" >&2; exit 1; }
command -v chromium >/dev/null || { echo "tests/system/install.sh: chromium missing" >&2; exit 1; }
command -v podman >/dev/null || { echo "tests/system/install.sh: podman missing" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "tests/system/install.sh: systemd-analyze missing" >&2; exit 1; }
command -v wrk >/dev/null || { echo "tests/system/install.sh: wrk missing" >&2; exit 1; }
echo "tests/system/install.sh: softhsm2 $(softhsm2-util --version), PKCS#11 module $module" >&2
