#!/usr/bin/env bash
# The demo: starts redis-server and nginx (with the module) on loopback ports
# of their own, stores the published example with the project's writer,
# makes an RS256 key (as an identity provider would) and mints tokens with
# it, fetches the session with a token and without, and stops what it
# started.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
module="$top/build/ngx_http_session_module.so"
fixture="$top/../shared/fixtures/seed-session.json"
[ -f "$fixture" ] || fixture="$top/t/data/seed-session.json"
id=19fe3b9e-384e-41d1-bded-8de9ef3abacb

tmp=$(mktemp -d /tmp/session-demo.XXXXXX)
redis_pid= nginx_pid=

stop() {
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
    [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap stop EXIT

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1")->sockport'
}

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

redis_port=$(free_port)
http_port=$(free_port)

redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
    --appendonly no --dir "$tmp" --logfile "$tmp/redis.log" &
redis_pid=$!
wait_port "$redis_port"

echo "== an RS256 key, published as a JWKS, as an identity provider does"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$tmp/idp-private.pem" 2>/dev/null
"$top/scripts/jwt-tool" jwks "$tmp/idp-private.pem" --kid demo-1 > "$tmp/jwks.json"

mkdir -p "$tmp/logs"
sed -e "s|%%MODULE%%|$module|" -e "s|%%TMP%%|$tmp|g" \
    -e "s|%%REDIS_PORT%%|$redis_port|" -e "s|%%HTTP_PORT%%|$http_port|" \
    "$top/examples/demo.conf" > "$tmp/nginx.conf"

/usr/sbin/nginx -p "$tmp" -c "$tmp/nginx.conf" &
nginx_pid=$!
wait_port "$http_port"

echo "== storing the published example with writer/session-store"
"$top/writer/session-store" -p "$redis_port" --owner client-a "$fixture"

url="http://127.0.0.1:$http_port/api/session/result/$id"
mint() {
    "$top/scripts/jwt-tool" mint "$tmp/idp-private.pem" --kid demo-1 \
        --claim aud=vx-api --claim sub="$1"
}

echo "== GET with a token for client-a, the session's owner"
curl -sS -i -H "Authorization: Bearer $(mint client-a)" "$url"
echo
echo
echo "== GET without a token"
curl -sS -i "$url"
echo
echo
echo "== GET with a token for client-b, another tenant"
curl -sS -i -H "Authorization: Bearer $(mint client-b)" "$url"
echo
