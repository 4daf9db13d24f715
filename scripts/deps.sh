#!/usr/bin/env bash
# Installs the Debian packages the build, the demo and the tests need,
# when any is missing.  Safe to run again.
set -euo pipefail

packages=(
    gcc make libc6-dev pkg-config
    nginx-core nginx-dev libpcre2-dev libssl-dev zlib1g-dev
    libjansson-dev libjwt-dev
    redis-server redis-tools
    perl libcrypt-jwt-perl openssl curl nghttp2-client
    valgrind clang libclang-rt-14-dev wrk
    debhelper dpkg-dev lintian
    prometheus
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts the packaged services; the tests and the demo start their own
for svc in nginx redis-server prometheus; do
    if [ -x "/etc/init.d/$svc" ] && [ -z "${SESSION_KEEP_SERVICES:-}" ]; then
        "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
done
