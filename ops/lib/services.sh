# shellcheck shell=bash
# services.sh — start and stop the local development services on 127.0.0.1.
# Sourced (not run) by the demo, the integration tests and the benchmarks.
#
# Every service keeps its state in a run directory RUNDIR given by the caller:
#   RUNDIR/<name>.pid  RUNDIR/<name>.log      broker, emulator
#   RUNDIR/<name>.log.1 .. .log.9             logs of earlier starts, newest first
#   RUNDIR/pg  RUNDIR/pgsock  RUNDIR/pg.log   PostgreSQL data, socket dir, log
#   RUNDIR/services                           names started, for svc_stop_all
# The file sets no shell options (it may be sourced interactively); its
# functions are safe under `set -euo pipefail`, which every script uses.
# Functions return non-zero with a message on stderr on failure (so `set -e`
# callers stop); a start that does not come up within SVC_START_TIMEOUT
# seconds (default 30) fails and shows the tail of the service's log.
#
#   svc_pg_start RUNDIR                  exports SLUICE_PG_CONNINFO PGHOST PGPORT
#                                        PGUSER PGDATABASE (database: sluice)
#   svc_broker_start RUNDIR BUILD_DIR [PARTITIONS]   exports SLUICE_KAFKA_BOOTSTRAP
#   svc_emulator_start RUNDIR BUILD_DIR MODELS_JSON [USAGE_LOG]
#                                        exports SLUICE_EMULATOR_URL;
#                                        EMULATOR_VERBOSE=1: a log line per
#                                        request (model, status, fault)
#   svc_stop_all RUNDIR                  stops all of the above; safe twice / in traps
#   svc_rotate_log FILE                  fresh empty FILE for a process about to start

: "${SVC_START_TIMEOUT:=30}"

_svc_err() {
    echo "services: ERROR: $*" >&2
}

# usage: _svc_fail_log LOGFILE MESSAGE — prints MESSAGE and the log's tail, returns 1.
_svc_fail_log() {
    _svc_err "$2"
    if [ -f "$1" ]; then
        echo "---- last lines of $1" >&2
        tail -n 20 "$1" >&2 || true
        echo "----" >&2
    fi
    return 1
}

# True when PID runs (a zombie counts as gone).
_svc_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [ "$state" != Z ]
}

_svc_register() {
    touch "$1/services"
    grep -qx "$2" "$1/services" || echo "$2" >>"$1/services"
}

# usage: svc_rotate_log FILE — moves an existing FILE to FILE.1 (FILE.1 to
# FILE.2 and so on; FILE.9 is dropped) and creates FILE empty. Call it before
# starting a process whose log is FILE: in `cmd >>FILE &` the shell opens
# FILE in the child, which may run only after the caller's next command, so
# without this a reader of FILE right after the start can find no file at
# all, or (`cmd >FILE &` over an earlier run's log) the previous process's
# lines, such as its old address. The earlier logs stay for KEEP_RUN.
svc_rotate_log() {
    local log=${1:?usage: svc_rotate_log FILE} i
    if [ -e "$log" ]; then
        for ((i = 8; i >= 1; i--)); do
            [ ! -e "$log.$i" ] || mv -f "$log.$i" "$log.$((i + 1))"
        done
        mv -f "$log" "$log.1"
    fi
    : >"$log"
}

# usage: _svc_spawn RUNDIR NAME KEY COMMAND [ARGS...]
# Starts COMMAND in the background (stdout and stderr to a fresh
# RUNDIR/NAME.log, see svc_rotate_log; pid in RUNDIR/NAME.pid) and waits for
# its first line KEY=value; prints value.
_svc_spawn() {
    local run=$1 name=$2 key=$3 log pid value waited=0
    shift 3
    log=$run/$name.log
    if [ -f "$run/$name.pid" ] && _svc_alive "$(cat "$run/$name.pid")"; then
        _svc_err "$name already runs in $run (pid $(cat "$run/$name.pid"))"
        return 1
    fi
    [ -x "$1" ] || { _svc_err "$name: $1 is not an executable (built yet?)"; return 1; }
    _svc_register "$run" "$name"
    svc_rotate_log "$log"
    "$@" >>"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$run/$name.pid"
    while :; do
        value=$(sed -n "s/^$key=//p" "$log" | head -n 1)
        if [ -n "$value" ]; then
            echo "$value"
            return 0
        fi
        _svc_alive "$pid" || _svc_fail_log "$log" "$name exited before printing $key=" || return 1
        if [ "$waited" -ge $((SVC_START_TIMEOUT * 10)) ]; then
            kill -KILL "$pid" 2>/dev/null || true
            _svc_fail_log "$log" "$name printed no $key= line within ${SVC_START_TIMEOUT}s" || return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# usage: _svc_stop_pid PID — TERM, up to 10 s, then KILL.
_svc_stop_pid() {
    local pid=$1 i
    _svc_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        _svc_alive "$pid" || break
        sleep 0.1
    done
    if _svc_alive "$pid"; then
        echo "services: pid $pid ignored SIGTERM for 10 s, killing" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

svc_broker_start() {
    local run=${1:?usage: svc_broker_start RUNDIR BUILD_DIR [PARTITIONS]} build=${2:?BUILD_DIR}
    local bootstrap
    bootstrap=$(_svc_spawn "$run" broker BOOTSTRAP "$build/ops/broker/sluice-broker" \
        --partitions "${3:-8}") || return 1
    export SLUICE_KAFKA_BOOTSTRAP=$bootstrap
    echo "services: broker at $SLUICE_KAFKA_BOOTSTRAP" >&2
}

svc_emulator_start() {
    local run=${1:?usage: svc_emulator_start RUNDIR BUILD_DIR MODELS_JSON [USAGE_LOG]}
    local build=${2:?BUILD_DIR} models=${3:?MODELS_JSON} url
    local -a args=(--config "$models" --port 0)
    [ -z "${4:-}" ] || args+=(--usage-log "$4")
    [ -z "${EMULATOR_VERBOSE:-}" ] || args+=(--verbose)
    url=$(_svc_spawn "$run" emulator EMULATOR "$build/ops/emulator/sluice-emulator" "${args[@]}") ||
        return 1
    export SLUICE_EMULATOR_URL=$url
    echo "services: emulator at $SLUICE_EMULATOR_URL" >&2
}

# ---- PostgreSQL ------------------------------------------------------------

# Prints the newest /usr/lib/postgresql/<ver>/bin holding initdb (the
# Debian layout; /usr/bin only has wrappers).
_svc_pg_bindir() {
    local dir best=
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] || continue
        case $(basename "$(dirname "$dir")") in *[!0-9]*) continue ;; esac
        if [ -z "$best" ] || [ "$(basename "$(dirname "$dir")")" -gt \
            "$(basename "$(dirname "$best")")" ]; then
            best=$dir
        fi
    done
    dir=$best
    if [ -z "$dir" ]; then
        _svc_err "no PostgreSQL server under /usr/lib/postgresql (run ops/install-deps.sh)"
        return 1
    fi
    echo "$dir"
}

# Runs a command as the postgres OS user when we are root (the server
# refuses to run as root), from / so that the cwd is always readable.
_svc_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Prints a random free TCP port in 20000-60000: no socket of any state on
# it (ss -tan, stricter than -ltn: the range overlaps the ephemeral ports
# of outgoing connections).
_svc_free_port() {
    local port i
    for ((i = 0; i < 50; i++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
        if ! command -v ss >/dev/null || [ -z "$(ss -tanH "sport = :$port" 2>/dev/null)" ]; then
            echo "$port"
            return 0
        fi
    done
    _svc_err "no free port found in 20000-60000"
    return 1
}

# Prints the directory holding the pg files: RUNDIR itself when the postgres
# user can reach it, else a private dir under /tmp that RUNDIR/pg, pgsock and
# pg.log link to (removed again by svc_stop_all).
_svc_pg_base() {
    local run=$1 base
    if [ -L "$run/pg" ]; then
        dirname "$(readlink -f "$run/pg")"
    elif [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$run" 2>/dev/null; then
        echo "$run"
    else
        base=$(mktemp -d /tmp/sluice-pg.XXXXXX)
        chmod 755 "$base"
        ln -s "$base/pg" "$run/pg"
        ln -s "$base/pgsock" "$run/pgsock"
        ln -s "$base/pg.log" "$run/pg.log"
        echo "$base"
    fi
}

# usage: _svc_pg_init BINDIR BASE — data dir BASE/pg, sockets in BASE/pgsock.
_svc_pg_init() {
    local bindir=$1 base=$2
    mkdir -p "$base/pg" "$base/pgsock"
    touch "$base/pg.log"
    chmod 700 "$base/pg"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$base/pg" "$base/pgsock" "$base/pg.log"
    [ ! -f "$base/pg/PG_VERSION" ] || return 0
    _svc_as_pg "$bindir/initdb" --nosync -A trust -U postgres -E UTF8 --locale=C \
        -D "$base/pg" >>"$base/pg.log" 2>&1 ||
        _svc_fail_log "$base/pg.log" "initdb into $base/pg failed" || return 1
    echo "include_if_exists = 'sluice.conf'" >>"$base/pg/postgresql.conf"
}

# usage: _svc_pg_launch BINDIR BASE — starts the server on a random free
# port (retrying when the port was taken meanwhile); prints the port.
_svc_pg_launch() {
    local bindir=$1 base=$2 port try lines
    for try in 1 2 3 4 5; do
        port=$(_svc_free_port) || return 1
        # fsync off for speed; synchronous_commit stays on (durability tests).
        printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $port" \
            "unix_socket_directories = '$base/pgsock'" "fsync = off" \
            "full_page_writes = off" "max_connections = 200" >"$base/pg/sluice.conf"
        [ "$(id -u)" -ne 0 ] || chown postgres: "$base/pg/sluice.conf"
        lines=$(wc -l <"$base/pg.log")
        if _svc_as_pg "$bindir/pg_ctl" -D "$base/pg" -l "$base/pg.log" -w \
            -t "$SVC_START_TIMEOUT" start >/dev/null 2>&1; then
            echo "$port"
            return 0
        fi
        tail -n +"$((lines + 1))" "$base/pg.log" | grep -q 'could not bind\|could not create any TCP' ||
            break
        echo "services: port $port was taken, retrying (try $try)" >&2
    done
    _svc_as_pg "$bindir/pg_ctl" -D "$base/pg" -m immediate stop >/dev/null 2>&1 || true
    _svc_fail_log "$base/pg.log" "postgres did not start (pg_ctl -w -t $SVC_START_TIMEOUT)"
}

svc_pg_start() {
    local run=${1:?usage: svc_pg_start RUNDIR} bindir base port exists
    run=$(readlink -f "$run")
    bindir=$(_svc_pg_bindir) || return 1
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        _svc_err "OS user postgres missing (install the postgresql package)"
        return 1
    fi
    base=$(_svc_pg_base "$run") || return 1
    _svc_register "$run" pg
    _svc_pg_init "$bindir" "$base" || return 1
    if _svc_as_pg "$bindir/pg_ctl" -D "$base/pg" status >/dev/null 2>&1; then
        port=$(sed -n 's/^port = //p' "$base/pg/sluice.conf") # already running
    else
        port=$(_svc_pg_launch "$bindir" "$base") || return 1
    fi
    _svc_pg_exports "$port"
    exists=$("$bindir/psql" -X -At -d postgres \
        -c "SELECT count(*) FROM pg_database WHERE datname = 'sluice'") ||
        _svc_fail_log "$base/pg.log" "cannot connect to postgres on port $port" || return 1
    if [ "$exists" = 0 ]; then
        "$bindir/psql" -X -q -d postgres -c "CREATE DATABASE sluice" ||
            _svc_fail_log "$base/pg.log" "cannot create database sluice" || return 1
    fi
    echo "services: postgres at 127.0.0.1:$port (data $base/pg)" >&2
}

_svc_pg_exports() {
    export PGHOST=127.0.0.1 PGPORT=$1 PGUSER=postgres PGDATABASE=sluice
    export SLUICE_PG_CONNINFO="host=127.0.0.1 port=$1 dbname=sluice user=postgres"
}

_svc_pg_stop() {
    local run=$1 bindir data pid
    run=$(readlink -f "$run")
    data=$(readlink -f "$run/pg")
    if [ -f "$data/PG_VERSION" ]; then
        bindir=$(_svc_pg_bindir) || return 1
        if ! _svc_as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 10 stop >/dev/null 2>&1; then
            pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
            [ -z "$pid" ] || _svc_stop_pid "$pid"
        fi
    fi
    # A data dir outside RUNDIR (see _svc_pg_base) would outlive it: remove.
    if [ -L "$run/pg" ]; then
        case $data in
            /tmp/sluice-pg.*/pg) rm -rf "$(dirname "$data")" "$run/pg" "$run/pgsock" "$run/pg.log" ;;
        esac
    fi
}

svc_stop_all() {
    local run=${1:?usage: svc_stop_all RUNDIR} name rc=0
    [ -f "$run/services" ] || return 0
    # Stop in reverse start order.
    for name in $(tac "$run/services"); do
        if [ "$name" = pg ]; then
            _svc_pg_stop "$run" || rc=1
        elif [ -f "$run/$name.pid" ]; then
            _svc_stop_pid "$(cat "$run/$name.pid")"
            rm -f "$run/$name.pid"
        fi
    done
    return $rc
}
