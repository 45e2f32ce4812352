#!/usr/bin/env bash
# The systemd units of ops/systemd/ against an install of this build
# (`cmake --install` into a scratch root): `systemd-analyze verify` finds
# nothing to say (unknown keys, missing binaries, bad dependencies), the
# hardening scores as "OK" (`systemd-analyze security --offline`), every
# sluice subcommand and flag an Exec line uses is in that subcommand's
# --help, every installed path they name exists in the install, every
# /etc/sluice file they read is created in the operations walkthrough, and
# the worker's stop timeout covers its drain (the longest provider call).
# Needs no running systemd (PID 1 here is not), no services.
source "$(dirname "$0")/lib.sh"

UNITS=(sluice-worker@.service sluice-scheduler.service sluice-migrate.service)
SD=$SLUICE_SOURCE_DIR/ops/systemd
DOC=$SLUICE_SOURCE_DIR/docs/operations.md
ROOT=$RUN/root
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (ops/install-deps.sh installs systemd)"

# --- an install tree, with the host's system units and /bin/kill ------------
DESTDIR=$ROOT cmake --install "$SLUICE_BUILD_DIR" >"$RUN/install.log" || fail "cmake --install"
mkdir -p "$ROOT/usr/lib/systemd" "$ROOT/usr/bin" "$ROOT/etc/systemd/system"
cp -a /usr/lib/systemd/system "$ROOT/usr/lib/systemd/" # sysinit.target and friends
ln -sfn usr/lib "$ROOT/lib"
ln -sfn usr/bin "$ROOT/bin"
cp /usr/bin/kill "$ROOT/usr/bin/"
for u in "${UNITS[@]}"; do
    cp "$ROOT/usr/local/share/sluice/systemd/$u" "$ROOT/etc/systemd/system/" ||
        fail "$u not installed by cmake --install"
done

# --- systemd-analyze --------------------------------------------------------
to_verify=(sluice-worker@1.service sluice-worker@2.service sluice-scheduler.service sluice-migrate.service)
systemd-analyze verify --root="$ROOT" "${to_verify[@]}" >"$RUN/verify.out" 2>&1 ||
    { cat "$RUN/verify.out" >&2; fail "systemd-analyze verify failed"; }
[ ! -s "$RUN/verify.out" ] || { cat "$RUN/verify.out" >&2; fail "systemd-analyze verify warned"; }
pass "systemd-analyze verify: ${to_verify[*]} clean"
# Exposure is scored 0-10 (shown) or 0-100 (--threshold): at most 2.0.
for u in "${to_verify[@]}"; do
    systemd-analyze security --offline=true --root="$ROOT" --threshold=20 "$u" >"$RUN/security.out" 2>&1 ||
        { tail -n 30 "$RUN/security.out" >&2; fail "$u: exposure above 2.0"; }
    pass "$(tail -n 1 "$RUN/security.out" | sed 's/^→ //')"
done
# A unit with a typo must not pass the same check (the check can fail).
sed 's/^ProtectSystem=/ProtectSystm=/' "$SD/sluice-scheduler.service" >"$ROOT/etc/systemd/system/typo.service"
systemd-analyze verify --root="$ROOT" typo.service >"$RUN/typo.out" 2>&1 || true
grep -q "Unknown key 'ProtectSystm'" "$RUN/typo.out" || fail "verify did not report a misspelt key"
rm "$ROOT/etc/systemd/system/typo.service"

# --- sluice subcommands, flags and paths the Exec lines use -------------------
SLUICE_INSTALLED=$ROOT/usr/local/bin/sluice
for u in "${UNITS[@]}"; do
    while read -r line; do
        read -ra argv <<<"${line#*=}"
        [ "${argv[0]}" = /usr/local/bin/sluice ] || continue
        sub=${argv[1]}
        help=$("$SLUICE_INSTALLED" "$sub" --help) || fail "$u: sluice $sub --help failed"
        for arg in "${argv[@]:2}"; do
            case $arg in
                --*) grep -qe "$arg" <<<"$help" || fail "$u: sluice $sub --help has no $arg" ;;
            esac
        done
    done < <(grep -E '^Exec[A-Za-z]*=' "$SD/$u")
    for path in $(grep -v '^#' "$SD/$u" | grep -oE '/usr/local/[A-Za-z0-9_./@-]+' | sort -u); do
        [ -e "$ROOT$path" ] || fail "$u names $path, which cmake --install does not create"
    done
    for path in $(grep -v '^#' "$SD/$u" | grep -oE '/etc/sluice/[A-Za-z0-9_./%@-]+' | sort -u); do
        case $path in *%i*) path=${path//%i/N} ;; esac
        grep -qF "$path" "$DOC" || fail "$u reads $path, which docs/operations.md never creates"
    done
done
"$SLUICE_INSTALLED" migrate --help | grep -q '/usr/local/share/sluice/schema' ||
    fail "the installed sluice does not default to the installed schema"
[ -f "$ROOT/usr/local/share/sluice/schema/roles.sql" ] && [ -f "$ROOT/usr/local/share/sluice/schema/001_core.sql" ] ||
    fail "schema not installed"
for f in sluice.env worker.env scheduler.env migrate.env; do
    [ -f "$SD/$f.example" ] || fail "no example for /etc/sluice/$f"
    bad=$(grep -vE '^(#.*|[A-Z_][A-Z0-9_]*=.*|)$' "$SD/$f.example" || true)
    [ -z "$bad" ] || fail "$f.example: not an EnvironmentFile line: $bad"
done
pass "every sluice flag, installed path and /etc/sluice file the units use exists or is documented"

# --- the system user --------------------------------------------------------
mkdir -p "$ROOT/etc"
systemd-sysusers --root="$ROOT" "$SD/sluice.sysusers" >"$RUN/sysusers.out" 2>&1 ||
    { cat "$RUN/sysusers.out" >&2; fail "systemd-sysusers"; }
grep -q '^sluice:x:[0-9]*:[0-9]*:.*:/nonexistent:/usr/sbin/nologin$' "$ROOT/etc/passwd" ||
    fail "sluice.sysusers made no sluice system user"
pass "sluice.sysusers creates the user the units run as"

# --- the drain fits in TimeoutStopSec ------------------------------------------
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$SD/sluice-worker@.service")
call_s=$(jq '[.providers[].timeout_ms // 30000] | max / 1000 | ceil' "$SLUICE_SOURCE_DIR/config/sluice.example.json")
[ -n "$stop_s" ] && [ "$stop_s" -ge $((call_s + 30)) ] ||
    fail "worker TimeoutStopSec=${stop_s}s does not cover a ${call_s}s provider call plus 30 s"
pass "worker TimeoutStopSec=${stop_s}s >= longest provider call ${call_s}s + 30 s"
