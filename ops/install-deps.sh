#!/usr/bin/env bash
# install-deps.sh — install what sluice needs to build, test and run its demo
# on Debian 12. Idempotent: asks dpkg which packages are missing and installs
# only those (apt-get update only then), so a second run takes well under a
# second. Run as root (or with sudo available) on a fresh machine.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git
    clang libclang-rt-14-dev
    librdkafka-dev libpq-dev libcurl4-openssl-dev libcjson-dev libuv1-dev
    libcmocka-dev libmicrohttpd-dev liblinear-dev libssl-dev libxxhash-dev
    libcsv-dev libjemalloc-dev
    postgresql postgresql-contrib
    kcat jq curl iproute2 procps ca-certificates
    chromium
    # systemd-analyze for the unit test (82-systemd-units.sh): the systemd
    # package alone installs the tools and never becomes PID 1 (that is
    # systemd-sysv, not installed), so it is safe in a container or chroot.
    # openssl makes the CA of the TLS test (81-pg-tls.sh).
    systemd openssl
)

# Installed packages, one name per line (dpkg-query complains about unknown
# names on stderr and exits 1: both are expected on a fresh machine).
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null |
    awk '$2 == "installed" { print $1 }' || true)

missing=()
for pkg in "${PACKAGES[@]}"; do
    grep -qx -- "$pkg" <<<"$installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        SUDO=(sudo)
    else
        echo "install-deps: missing ${missing[*]}; run me as root" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
echo "install-deps: done"
