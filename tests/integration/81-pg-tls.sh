#!/usr/bin/env bash
# TLS and secrets: a PostgreSQL that requires TLS (hostssl, scram-sha-256)
# with a certificate from a CA made here with openssl. sluice connects with
# sslmode=verify-full and the password from PGPASSFILE (or PGPASSWORD);
# a wrong CA, a host name the certificate does not name, a plain connection
# and a wrong password are refused; no output of sluice ever holds the
# password. Kafka: kafka.properties reach librdkafka unchanged (the dev
# broker has no TLS, so only the client side is checked: a TLS setting with
# a missing CA file and a misspelt key are refused by librdkafka by name).
source "$(dirname "$0")/lib.sh"

cp "$SLUICE_SOURCE_DIR/config/sluice.example.json" "$SLUICE_CONFIG"
svc_pg_start "$RUN"
"$SLUICE" migrate --roles >/dev/null || fail "migrate --roles"
PW=$(openssl rand -hex 16)
psql_val "CREATE ROLE it_tls LOGIN IN ROLE sluice_scheduler PASSWORD '$PW'" >/dev/null

# --- a CA, a server certificate for localhost only, and an unrelated CA -------
mkdir -p "$RUN/tls"
cd "$RUN/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sluice-test-ca \
    -keyout ca.key -out ca.crt 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=another-ca \
    -keyout wrong-ca.key -out wrong-ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt 2>/dev/null
cd - >/dev/null
[ -s "$RUN/tls/server.crt" ] || fail "openssl made no server certificate"

# --- the server: TLS on, it_tls only over TLS with a password ------------------
data=$(readlink -f "$RUN/pg")
install -m 600 "$RUN/tls/server.crt" "$RUN/tls/server.key" "$data/"
[ "$(id -u)" -ne 0 ] || chown postgres: "$data/server.crt" "$data/server.key"
printf '%s\n' "ssl = on" "ssl_cert_file = 'server.crt'" "ssl_key_file = 'server.key'" >>"$data/sluice.conf"
{ printf '%s\n' "hostssl sluice it_tls 127.0.0.1/32 scram-sha-256" \
      "host    sluice it_tls 127.0.0.1/32 reject"
  cat "$data/pg_hba.conf"; } >"$RUN/hba" && cat "$RUN/hba" >"$data/pg_hba.conf"
it_pg_reload
[ "$(psql_val "SHOW ssl")" = on ] || fail "the server did not turn TLS on"

printf 'localhost:%s:sluice:it_tls:%s\n' "$PGPORT" "$PW" >"$RUN/pgpass"
chmod 600 "$RUN/pgpass"
TLS="host=localhost port=$PGPORT dbname=sluice user=it_tls sslmode=verify-full"

# usage: status_as NAME CONNINFO [ENV...] — runs `sluice status`, output in
# $RUN/NAME.out; returns its exit code. The password must never be in it.
status_as() {
    local name=$1 conninfo=$2 rc=0
    shift 2
    env -u PGPASSWORD -u PGUSER -u PGHOST -u PGPORT "$@" SLUICE_PG_CONNINFO="$conninfo" \
        "$SLUICE" status >"$RUN/$name.out" 2>&1 || rc=$?
    ! grep -qF "$PW" "$RUN/$name.out" || fail "$name: the password appears in sluice's output"
    return $rc
}

status_as good "$TLS sslrootcert=$RUN/tls/ca.crt" PGPASSFILE="$RUN/pgpass" ||
    { cat "$RUN/good.out" >&2; fail "verify-full with the right CA and PGPASSFILE"; }
status_as env "$TLS sslrootcert=$RUN/tls/ca.crt" PGPASSWORD="$PW" PGPASSFILE=/dev/null ||
    { cat "$RUN/env.out" >&2; fail "verify-full with PGPASSWORD"; }
[ "$(PGPASSFILE=$RUN/pgpass PGSSLMODE=verify-full PGSSLROOTCERT=$RUN/tls/ca.crt \
     psql -X -At -h localhost -U it_tls -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" = t ] ||
    fail "the connection is not TLS"
pass "verify-full against the made CA: sluice connects (password from PGPASSFILE or PGPASSWORD)"

status_as wrongca "$TLS sslrootcert=$RUN/tls/wrong-ca.crt" PGPASSFILE="$RUN/pgpass" &&
    fail "a certificate from another CA was accepted"
grep -q 'certificate verify failed' "$RUN/wrongca.out" || { cat "$RUN/wrongca.out" >&2; fail "wrong CA: unexpected error"; }
status_as wronghost "host=127.0.0.1 port=$PGPORT dbname=sluice user=it_tls sslmode=verify-full sslrootcert=$RUN/tls/ca.crt" \
    PGPASSFILE="$RUN/pgpass" && fail "a certificate for localhost was accepted for 127.0.0.1"
grep -q 'does not match host name' "$RUN/wronghost.out" || { cat "$RUN/wronghost.out" >&2; fail "wrong host: unexpected error"; }
status_as plain "host=localhost port=$PGPORT dbname=sluice user=it_tls sslmode=disable" PGPASSFILE="$RUN/pgpass" &&
    fail "a connection without TLS was accepted"
grep -q 'rejects connection' "$RUN/plain.out" || { cat "$RUN/plain.out" >&2; fail "plain: unexpected error"; }
printf 'localhost:%s:sluice:it_tls:%s\n' "$PGPORT" "not-$PW" >"$RUN/pgpass.bad"
chmod 600 "$RUN/pgpass.bad"
status_as badpw "$TLS sslrootcert=$RUN/tls/ca.crt" PGPASSFILE="$RUN/pgpass.bad" && fail "a wrong password was accepted"
grep -q 'password authentication failed' "$RUN/badpw.out" || { cat "$RUN/badpw.out" >&2; fail "bad password: unexpected error"; }
pass "refused: another CA, a host name not in the certificate, no TLS, a wrong password; no password in any output"

# --- Kafka: kafka.properties pass through to librdkafka --------------------------
echo '{"id": "tls-1", "task": "intent", "input": "hello"}' >"$RUN/one.jsonl"
jq '.kafka.properties += {"security.protocol": "ssl", "ssl.ca.location": "/nonexistent/kafka-ca.pem"}' \
    "$SLUICE_SOURCE_DIR/config/sluice.example.json" >"$RUN/kafka-tls.json"
SLUICE_CONFIG=$RUN/kafka-tls.json timeout 30 "$SLUICE" publish "$RUN/one.jsonl" >"$RUN/ktls.out" 2>&1 &&
    fail "publish with a missing Kafka CA file succeeded"
grep -q 'ssl.ca.location' "$RUN/ktls.out" || { cat "$RUN/ktls.out" >&2; fail "librdkafka did not name ssl.ca.location"; }
jq '.kafka.properties += {"security.protocl": "ssl"}' \
    "$SLUICE_SOURCE_DIR/config/sluice.example.json" >"$RUN/kafka-typo.json"
SLUICE_CONFIG=$RUN/kafka-typo.json timeout 30 "$SLUICE" publish "$RUN/one.jsonl" >"$RUN/ktypo.out" 2>&1 &&
    fail "publish with a misspelt Kafka property succeeded"
grep -q 'security.protocl' "$RUN/ktypo.out" || { cat "$RUN/ktypo.out" >&2; fail "librdkafka did not name the misspelt key"; }
pass "kafka.properties reach librdkafka: a TLS CA file and a misspelt key are checked by it"

# A value "env:NAME" comes from the environment when the client starts.
jq '.kafka.properties += {"security.protocol": "ssl", "ssl.ca.location": "env:SLUICE_TEST_KAFKA_CA"}' \
    "$SLUICE_SOURCE_DIR/config/sluice.example.json" >"$RUN/kafka-env.json"
env -u SLUICE_TEST_KAFKA_CA SLUICE_CONFIG=$RUN/kafka-env.json timeout 30 \
    "$SLUICE" publish "$RUN/one.jsonl" >"$RUN/kenv.out" 2>&1 && fail "publish with an unset env: property succeeded"
grep -q 'kafka.properties.ssl.ca.location: environment variable SLUICE_TEST_KAFKA_CA is not set' "$RUN/kenv.out" ||
    { cat "$RUN/kenv.out" >&2; fail "an unset env: property was not named"; }
SLUICE_TEST_KAFKA_CA=/nonexistent/from-env-ca.pem SLUICE_CONFIG=$RUN/kafka-env.json timeout 30 \
    "$SLUICE" publish "$RUN/one.jsonl" >"$RUN/kenv.out" 2>&1 && fail "publish with a missing CA file (from env) succeeded"
# librdkafka's own log names the file it tried to open: the value came from
# the environment.
grep -q 'fopen(/nonexistent/from-env-ca.pem' "$RUN/kenv.out" ||
    { cat "$RUN/kenv.out" >&2; fail "the env: value did not reach librdkafka"; }
pass "kafka.properties \"env:NAME\" values are read from the environment"
