#!/usr/bin/env bash
# The units of ops/systemd/ run from their own files, as systemd would run
# them, against real services: PID 1 here is not systemd, so a small
# interpreter reads each unit's EnvironmentFile= and Environment= lines
# (%i and %d expanded; files win over Environment=), copies its
# LoadCredential= files into a directory only the service user can read,
# and runs ExecStart= as nobody with only that environment. The
# /etc/sluice files are made from the installed examples the way
# docs/operations.md tells an operator to. Checks: sluice-migrate runs
# `migrate --roles` as a non-superuser owner with CREATEROLE; two worker
# instances and the scheduler connect as their own logins with scram
# passwords from the credential pgpass files; an optional worker-N.env
# overrides the instance's metrics address; jobs (realtime and batch) are
# answered; /healthz is 200; SIGTERM (systemctl stop) drains each to exit 0.
source "$(dirname "$0")/lib.sh"

ROOT=$RUN/root
E=$ROOT/etc/sluice
SVC_USER=nobody
[ "$(id -u)" -eq 0 ] || SVC_USER=$(id -un) # runuser needs root

# --- install, as in the walkthrough (into a scratch root) ----------------------
DESTDIR=$ROOT cmake --install "$SLUICE_BUILD_DIR" >/dev/null || fail "cmake --install"
UNITS=$ROOT/usr/local/share/sluice/systemd

# --- PostgreSQL: an owner with CREATEROLE, scram for the sluice logins -------
svc_pg_start "$RUN"
psql_val "CREATE ROLE sluice_owner LOGIN CREATEROLE PASSWORD 'owner-pw'" >/dev/null
psql_val "CREATE DATABASE walk OWNER sluice_owner" >/dev/null
data=$(readlink -f "$RUN/pg")
{ echo "host walk sluice_owner,it_w,it_s 127.0.0.1/32 scram-sha-256"; cat "$data/pg_hba.conf"; } >"$RUN/hba"
cat "$RUN/hba" >"$data/pg_hba.conf"
it_pg_reload
walk_val() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d walk -c "$1"; }

# --- /etc/sluice from the installed examples ----------------------------------
mkdir -p "$E"
jq '.metrics.listen = "127.0.0.1:0"
    | .scheduler = {max_wait_s: 1, poll_min_ms: 200, poll_max_ms: 500, tick_ms: 100}
    | .kafka.properties += {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}' \
    "$ROOT/usr/local/share/sluice/sluice.example.json" >"$E/sluice.json"
export SLUICE_CONFIG=$E/sluice.json
"$WORKLOAD" --out "$RUN" --jobs 400 --seed 83 >/dev/null
it_write_models 0 '{}'
svc_broker_start "$RUN" "$SLUICE_BUILD_DIR" 8
svc_emulator_start "$RUN" "$SLUICE_BUILD_DIR" "$RUN/models.json"
for f in sluice worker scheduler migrate; do
    install -m 600 "$UNITS/$f.env.example" "$E/$f.env"
done
# The operator's edits: brokers, providers (the emulator here), no PGSSL*
# (this server has no TLS: 81-pg-tls.sh), each role's login.
sed -i -e "s|^SLUICE_KAFKA_BOOTSTRAP=.*|SLUICE_KAFKA_BOOTSTRAP=$SLUICE_KAFKA_BOOTSTRAP|" -e '/^PGSSL/d' "$E/sluice.env"
while IFS=$'\t' read -r name kind; do
    var="SLUICE_PROVIDER_$(echo "$name" | tr 'a-z.-' 'A-Z__')_BASE_URL"
    if [ "$kind" = openai ]; then echo "$var=$SLUICE_EMULATOR_URL/v1"; else echo "$var=$SLUICE_EMULATOR_URL"; fi
done < <(jq -r '.providers | to_entries[] | [.key, .value.kind] | @tsv' "$E/sluice.json") >>"$E/sluice.env"
for r in worker:it_w scheduler:it_s migrate:sluice_owner; do
    sed -i "s|^SLUICE_PG_CONNINFO=.*|SLUICE_PG_CONNINFO=host=127.0.0.1 port=$PGPORT dbname=walk user=${r#*:}|" "$E/${r%%:*}.env"
done
echo "SLUICE_METRICS_LISTEN=127.0.0.1:0" >"$E/worker-1.env" # the optional per-instance file
cp "$E/worker-1.env" "$E/worker-2.env"
(umask 077 && echo "127.0.0.1:$PGPORT:walk:sluice_owner:owner-pw" >"$E/pgpass.migrate")

# usage: run_unit UNIT_FILE NAME INSTANCE fg|bg — ExecStart as systemd would.
run_unit() {
    local file=$UNITS/$1 name=$2 inst=$3 mode=$4 key val opt exec="" cred=$RUN/credentials/$2
    local -a from_env=() from_files=() argv
    mkdir -p "$cred"
    while IFS='=' read -r key val; do
        val=${val//%i/$inst}
        val=${val//%d/$cred}
        val=${val//\/etc\/sluice/$E}
        val=${val//\/usr\/local/$ROOT\/usr\/local}
        case $key in
            Environment) from_env+=("$val") ;;
            EnvironmentFile)
                opt=${val%%/*}
                val=/${val#*/}
                if [ -f "$val" ]; then
                    mapfile -t -O "${#from_files[@]}" from_files < <(grep -vE '^(#|$)' "$val")
                elif [ "$opt" != - ]; then
                    fail "$name: EnvironmentFile $val missing"
                fi ;;
            LoadCredential) install -m 400 -o "$SVC_USER" "${val#*:}" "$cred/${val%%:*}" ||
                                fail "$name: credential ${val#*:}" ;;
            ExecStart) exec=$val ;;
        esac
    done < <(grep -E '^(Environment|EnvironmentFile|LoadCredential|ExecStart)=' "$file")
    chown "$SVC_USER" "$cred"
    chmod 500 "$cred"
    read -ra argv <<<"$exec"
    [ "${argv[0]}" = "$ROOT/usr/local/bin/sluice" ] || fail "$name: ExecStart is not the installed sluice"
    # Only the unit's environment, plus the sanitizer options of an
    # ASan/UBSan build (ops/test's second pass), which systemd would not set.
    local -a san=()
    [ -z "${ASAN_OPTIONS:-}" ] || san+=("ASAN_OPTIONS=$ASAN_OPTIONS")
    [ -z "${UBSAN_OPTIONS:-}" ] || san+=("UBSAN_OPTIONS=$UBSAN_OPTIONS")
    local -a cmd=(env -i PATH=/usr/bin:/bin "${san[@]}" "${from_env[@]}" "${from_files[@]}" "${argv[@]}")
    [ "$(id -u)" -ne 0 ] || cmd=(runuser -u "$SVC_USER" -- "${cmd[@]}")
    if [ "$mode" = fg ]; then
        local rc=0
        (cd / && "${cmd[@]}") >"$RUN/$name.log" 2>&1 || rc=$?
        [ $rc -eq 0 ] || { cat "$RUN/$name.log" >&2; fail "$name exited $rc"; }
    else
        (cd / && exec "${cmd[@]}") >"$RUN/$name.log" 2>&1 &
        echo $! >"$RUN/$name.pid"
    fi
}
# The sluice process itself (runuser's child when runuser is used).
main_pid() {
    local pid
    pid=$(cat "$RUN/$1.pid")
    [ "$(id -u)" -ne 0 ] || pid=$(pgrep -P "$pid")
    echo "$pid"
}
stop_unit() { # SIGTERM as `systemctl stop` sends it; requires exit 0
    local pid rc=0
    pid=$(cat "$RUN/$1.pid")
    kill -TERM "$(main_pid "$1")"
    wait "$pid" || rc=$?
    rm -f "$RUN/$1.pid"
    [ $rc -eq 0 ] || fail "$1 exited $rc after SIGTERM"
}
kill_units() { # on any exit: no unit outlives the test
    local p
    for p in "$RUN"/sluice-*.pid; do
        [ ! -f "$p" ] || kill -9 "$(main_pid "$(basename "$p" .pid)")" 2>/dev/null || true
    done
}
# it_cleanup reads the exit status from $?: hand it through.
trap 'rc=$?; set +e; kill_units; (exit $rc); it_cleanup' EXIT

# --- sluice-migrate, the logins, the three long-running units --------------------
run_unit sluice-migrate.service sluice-migrate "" fg
grep -q '^roles applied: ' "$RUN/sluice-migrate.log" || fail "migrate unit applied no roles"
pass "sluice-migrate: $(head -n 1 "$RUN/sluice-migrate.log"), roles, as a non-superuser owner"
walk_val "CREATE ROLE it_w LOGIN IN ROLE sluice_worker PASSWORD 'worker-pw';
          CREATE ROLE it_s LOGIN IN ROLE sluice_scheduler PASSWORD 'scheduler-pw'" >/dev/null
(umask 077 && echo "127.0.0.1:$PGPORT:walk:it_w:worker-pw" >"$E/pgpass.worker" &&
    echo "127.0.0.1:$PGPORT:walk:it_s:scheduler-pw" >"$E/pgpass.scheduler")

run_unit sluice-worker@.service sluice-worker@1 1 bg
run_unit sluice-worker@.service sluice-worker@2 2 bg
run_unit sluice-scheduler.service sluice-scheduler "" bg
deadline=$((SECONDS + 120))
for n in sluice-worker@1 sluice-worker@2; do
    until grep -q 'kafka: assigned [1-9]' "$RUN/$n.log"; do
        [ $SECONDS -lt $deadline ] || fail "$n got no partitions"
        sleep 0.1
    done
done
until grep -q 'metrics listening on' "$RUN/sluice-scheduler.log"; do
    [ $SECONDS -lt $deadline ] || fail "the scheduler serves no metrics"
    sleep 0.1
done
for n in sluice-worker@1 sluice-worker@2 sluice-scheduler; do
    port=$(sed -n 's/.*metrics listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$RUN/$n.log" | head -n 1)
    [ -n "$port" ] || fail "$n: no metrics port (worker-N.env not applied?)"
    code=$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$port/healthz")
    [ "$code" = 200 ] || fail "$n: /healthz $code"
done
users=$(walk_val "SELECT string_agg(DISTINCT usename || '/' || application_name, ' ' ORDER BY usename || '/' || application_name)
                  FROM pg_stat_activity WHERE datname = 'walk' AND application_name LIKE 'sluice%'")
[ "$users" = "it_s/sluice-scheduler it_w/sluice-worker it_w/sluice-worker-drift" ] || fail "connections: $users"
pass "two workers and the scheduler up as their own logins ($users), /healthz 200"

{ head -n 360 "$RUN/jobs.jsonl"; tail -n 40 "$RUN/jobs.jsonl" | jq -c '.mode = "async"'; } >"$RUN/mixed.jsonl"
"$SLUICE" publish "$RUN/mixed.jsonl" >/dev/null || fail "publish"
deadline=$((SECONDS + 180))
until [ "$(walk_val "SELECT count(*) FROM results")" -ge 400 ]; do
    [ $SECONDS -lt $deadline ] || fail "only $(walk_val "SELECT count(*) FROM results") of 400 results"
    sleep 0.2
done
[ "$(walk_val "SELECT count(*) FROM results WHERE source = 'batch'")" -eq 40 ] || fail "async jobs not answered by batch"
pass "400 jobs answered (40 by batch through the scheduler unit)"

for n in sluice-worker@1 sluice-worker@2 sluice-scheduler; do
    stop_unit "$n"
done
! grep -il 'permission denied\|password authentication failed' "$RUN"/sluice-*.log || fail "a unit hit an auth or permission error"
pass "SIGTERM drained the workers and the scheduler to exit 0"
