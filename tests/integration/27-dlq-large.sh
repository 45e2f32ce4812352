#!/usr/bin/env bash
# Rejected messages larger than the producer default (1 MB) still reach
# the dead-letter topic, with their original key and headers plus the
# reason headers: a 2 MiB malformed message goes whole (under
# kafka.dlq_max_message_bytes, 4 MiB here), a 16 MiB one as a truncated
# copy whose headers give the original size and SHA-256. Both get their
# rejected row with the whole payload, and sluice_rejected_total counts
# the two DLQ messages.
#
# The dev broker keeps at most 5 MiB per partition (it drops the oldest
# beyond that), so each big message has a partition of its own, on the jobs
# topic (explicit partitions) and on the DLQ (keys whose CRC-32, the
# default partitioner, differs mod 8: dlq-2mib -> 3, dlq-16mib -> 7).
source "$(dirname "$0")/lib.sh"

"$WORKLOAD" --out "$RUN" --jobs 10 --malformed 0 --seed 27 >/dev/null # the gold file
it_start_services 0 '{}' '.kafka.dlq_max_message_bytes = 4194304'
it_start_worker a
it_wait_workers_assigned a

# Not JSON: one '{' and then letters, no newline (kcat splits on newlines).
make_payload() { { printf '{'; head -c "$1" /dev/zero | tr '\0' 'x'; } | head -c "$1"; }
make_payload $((2 << 20)) > "$RUN/m2"
make_payload $((16 << 20)) > "$RUN/m16"
publish() { # KEY PARTITION FILE
    kcat -P -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs -p "$2" -k "$1" \
        -H "trace-id=t-$1" -H "origin=it27" -X message.max.bytes=20000000 < "$3" \
        || fail "kcat could not publish $1"
}
publish dlq-2mib 1 "$RUN/m2"
publish dlq-16mib 6 "$RUN/m16"

it_wait_sql "SELECT count(*) FROM rejected" 2 120
[ "$(psql_val "SELECT count(*) FROM rejected WHERE reason_code = 'malformed_json'
    AND length(payload) IN ($((2 << 20)), $((16 << 20)))")" -eq 2 ] \
    || fail "rejected rows do not hold the whole payloads"

# The DLQ: key, value size and headers of each message.
dlq() {
    kcat -C -b "$SLUICE_KAFKA_BOOTSTRAP" -t sluice.jobs.dlq -o beginning -e -q \
        -X fetch.max.bytes=60000000 -X receive.message.max.bytes=100000000 \
        -f '%k|%S|%h\n' 2>/dev/null
}
deadline=$((SECONDS + 60))
until [ "$(dlq | grep -c '^dlq-')" -ge 2 ]; do
    [ $SECONDS -lt $deadline ] || fail "DLQ holds $(dlq | grep -c '^dlq-') of the 2 messages: $(dlq | cut -c1-200)"
    sleep 0.3
done
dlq > "$RUN/dlq.txt"
line2=$(grep '^dlq-2mib|' "$RUN/dlq.txt") || fail "no DLQ message keyed dlq-2mib"
line16=$(grep '^dlq-16mib|' "$RUN/dlq.txt") || fail "no DLQ message keyed dlq-16mib"
for l in "$line2" "$line16"; do
    key=${l%%|*}
    case "$l" in *"trace-id=t-$key"*) ;; *) fail "DLQ copy of $key lost its header trace-id: $l";; esac
    case "$l" in *"origin=it27"*) ;; *) fail "DLQ copy of $key lost its header origin: $l";; esac
    case "$l" in *"sluice-reject-code=malformed_json"*) ;; *) fail "DLQ copy of $key has no reason code: $l";; esac
    case "$l" in *"sluice-reject-reason="*) ;; *) fail "DLQ copy of $key has no reason: $l";; esac
done
size2=$(echo "$line2" | cut -d'|' -f2)
[ "$size2" -eq $((2 << 20)) ] || fail "the 2 MiB message went as $size2 bytes, not whole"
case "$line2" in *sluice-truncated*) fail "the 2 MiB copy is marked truncated";; esac
size16=$(echo "$line16" | cut -d'|' -f2)
[ "$size16" -le $((4 << 20)) ] && [ "$size16" -gt 0 ] || fail "the 16 MiB copy is $size16 bytes"
sha=$(sha256sum "$RUN/m16" | cut -d' ' -f1)
case "$line16" in *"sluice-truncated=true"*"sluice-original-size=$((16 << 20))"*"sluice-original-sha256=$sha"*) ;;
    *) fail "the truncated copy lacks size/SHA-256 headers: $(echo "$line16" | cut -d'|' -f1,2,3-)";; esac

addr=$(sed -n 's/.*metrics listening on \([0-9.]*:[0-9]*\).*/\1/p' "$RUN/worker-a.log" | head -n 1)
metrics=$(curl -sf "http://$addr/metrics")
rej=$(echo "$metrics" | awk '/^sluice_rejected_total\{/ {s += $2} END {print s + 0}')
trunc=$(echo "$metrics" | awk '/^sluice_dlq_truncated_total\{/ {s += $2} END {print s + 0}')
[ "$rej" -eq 2 ] || fail "sluice_rejected_total = $rej, DLQ messages = 2"
[ "$trunc" -eq 1 ] || fail "sluice_dlq_truncated_total = $trunc, want 1"
it_stop_worker a
if grep -q "Message size too large" "$RUN/worker-a.log"; then
    fail "the DLQ producer refused a message as too large"
fi
pass "2 MiB reject whole and 16 MiB reject truncated ($size16 bytes, size + SHA-256 headers) in the DLQ with key and headers; sluice_rejected_total = 2"
