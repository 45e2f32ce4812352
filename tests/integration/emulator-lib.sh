# shellcheck shell=bash
# emulator-lib.sh — shared set-up for the standalone emulator tests
# (sourced, not run): they need no PostgreSQL or broker, so not lib.sh.
#
#   source "$(dirname "$0")/emulator-lib.sh" NAME
#
# makes the run directory DIR=/tmp/sluice-NAME.XXXXXX (kept with KEEP_RUN=1),
# defines fail/pass/check/need_cmd and emu_start, and on exit stops every
# emulator emu_start started and, after a failure, shows their stderr.

: "${SLUICE_BUILD_DIR:?run me from ctest (SLUICE_BUILD_DIR unset)}"
EMU="$SLUICE_BUILD_DIR/ops/emulator/sluice-emulator"
DIR=$(mktemp -d "/tmp/sluice-$1.XXXXXX")
PIDS=()
CHECKS=0

emu_cleanup() {
    local rc=$? pid f
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        for f in "$DIR"/*.err; do
            [ -s "$f" ] && { echo "---- tail of $f" >&2; tail -n 20 "$f" >&2; }
        done
    fi
    [ -n "${KEEP_RUN:-}" ] || rm -rf "$DIR"
    exit $rc
}
trap emu_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

pass() {
    CHECKS=$((CHECKS + 1))
    echo "ok: $*"
}

# usage: need_cmd CMD… — fails unless each is on $PATH.
need_cmd() {
    local c
    for c; do
        command -v "$c" >/dev/null || fail "$c is not installed"
    done
}

# usage: check "description" JQ_FILTER FILE — the filter must yield true.
check() {
    local what=$1 filter=$2 file=$3
    [ "$(jq -e "$filter" "$file" 2>/dev/null)" = true ] || {
        echo "---- $file:" >&2
        head -c 3000 "$file" >&2
        echo >&2
        fail "$what  [jq: $filter]"
    }
}

# usage: emu_start NAME [emulator args…] — runs the emulator on
# $DIR/NAME.json with its usage log in $DIR/NAME.csv and stdout/stderr in
# $DIR/NAME.out/.err, waits for its EMULATOR=<url> line and sets URL_<NAME>
# and PID_<NAME>.
emu_start() {
    local name=$1 url="" pid
    shift
    "$EMU" --config "$DIR/$name.json" --port 0 --usage-log "$DIR/$name.csv" "$@" \
        >"$DIR/$name.out" 2>"$DIR/$name.err" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        # The background shell may not have created NAME.out yet.
        url=$(sed -n 's/^EMULATOR=//p' "$DIR/$name.out" 2>/dev/null || true)
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || fail "emulator $name exited at start"
        sleep 0.1
    done
    [[ "$url" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] ||
        fail "emulator $name: no EMULATOR=http://127.0.0.1:<port> line (got '$url')"
    printf -v "URL_$name" '%s' "$url"
    printf -v "PID_$name" '%s' "$pid"
}

[ -x "$EMU" ] || fail "no emulator binary at $EMU"
