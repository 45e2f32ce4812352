#!/usr/bin/env bash
# 11-emulator-batch.sh — the emulator's batch APIs, field by field against
# docs/providers.md ("OpenAI Files + Batch", "Anthropic Message Batches").
#
# Four emulators with different "batch" settings (normal, errored share,
# expire, fail; turnaround 1 s, 4 s for the state walk): upload, create, poll, download, every
# line's shape, custom_id coverage (order is shuffled, so sets are
# compared), counts, usage summed, batch answers equal to realtime ones,
# the usage log, cancel, list, validation errors and the end states.
# Standalone on purpose (emulator-lib.sh, not lib.sh): it needs no
# PostgreSQL or broker.
set -euo pipefail

# shellcheck source=emulator-lib.sh
source "$(dirname "$0")/emulator-lib.sh" emu-batch
need_cmd jq curl

# usage: check_all "description" JQ_FILTER JSONL_FILE — true for every line.
check_all() {
    local what=$1 filter=$2 file=$3
    [ "$(jq -s "all(.[]; $filter)" "$file" 2>/dev/null)" = true ] || {
        echo "---- $file:" >&2
        head -c 3000 "$file" >&2
        echo >&2
        fail "$what  [jq: $filter]"
    }
}

# ---------------------------------------------------------------- set-up
GOLD_TEXT="I was charged twice for the headphones on order A01007."
jq -nc --arg t "$GOLD_TEXT" '{text: $t, labels: {intent: "billing"}}' > "$DIR/gold.jsonl"

# usage: models FILE BATCH_JSON
models() {
    cat > "$1" <<JSON
{
  "gold": "gold.jsonl",
  "models": {
    "oracle": {"accuracy": 1.0, "latency_ms": {"median": 30, "sigma": 0}},
    "flaky":  {"faults": {"http_500": 1.0}}
  },
  "batch": $2
}
JSON
}
models "$DIR/normal.json" '{"turnaround_s": 4.0}'
models "$DIR/errored.json" '{"turnaround_s": 1.0, "errored_share": 0.5}'
models "$DIR/expire.json" '{"turnaround_s": 1.0, "expire": true}'
models "$DIR/fail.json" '{"turnaround_s": 1.0, "fail": true}'
models "$DIR/bad.json" '{"turnaround": 1.0}'
if "$EMU" --config "$DIR/bad.json" --port 0 >/dev/null 2>"$DIR/bad.err"; then
    fail "a config with an unknown batch key was accepted"
fi
grep -q '"batch.turnaround": unknown key' "$DIR/bad.err" || fail "bad batch key not named: $(cat "$DIR/bad.err")"
models "$DIR/bad.json" '{"errored_share": 2}'
if "$EMU" --config "$DIR/bad.json" --port 0 >/dev/null 2>"$DIR/bad.err"; then
    fail "errored_share 2 was accepted"
fi
pass "batch config validation"

for n in normal errored expire fail; do emu_start $n; done
URL=$URL_normal
pass "four emulators listening"

# usage: req METHOD URL NAME [curl args…] — body in $DIR/NAME.json; prints the status.
req() {
    local method=$1 url=$2 name=$3
    shift 3
    curl -s -m 30 -X "$method" -o "$DIR/$name.json" -D "$DIR/$name.h" -w '%{http_code}' \
        -H 'Authorization: Bearer sk-test' -H 'x-api-key: sk-test' -H 'anthropic-version: 2023-06-01' \
        "$@" "$url"
}
post_json() { # usage: post_json URL NAME JSON_FILE
    req POST "$1" "$2" -H 'Content-Type: application/json' --data-binary "@$3"
}

SYSTEM="You classify customer support tickets. Answer with one JSON object."

# usage: openai_input FILE N — N oracle lines (line 1 is the gold text) plus
# one for an unknown model (custom_id "bad-model"). One jq call: fast.
openai_input() {
    jq -nc --arg s "$SYSTEM" --arg g "$GOLD_TEXT" --argjson n "$2" '
        def prompt(t): "Classify the ticket.\n<labels>refund, billing, shipping, other</labels>\n<input>\(t)</input>";
        def body(m; u): {model: m, messages: [{role: "system", content: $s}, {role: "user", content: u}]};
        (range(1; $n + 1) | {custom_id: "req-\(.)", method: "POST", url: "/v1/chat/completions",
            body: body("oracle"; prompt(if . == 1 then $g else "Ticket number \(.) about a parcel." end))}),
        {custom_id: "bad-model", method: "POST", url: "/v1/chat/completions", body: body("no-such-model"; "hi")}' > "$1"
}

upload() { # usage: upload BASE_URL FILE NAME — prints the status
    req POST "$1/v1/files" "$3" -F "purpose=batch" -F "file=@$2;filename=input.jsonl"
}

create_openai() { # usage: create_openai BASE_URL FILE_ID NAME
    jq -nc --arg f "$2" '{input_file_id: $f, endpoint: "/v1/chat/completions", completion_window: "24h",
        metadata: {run: "nightly", shard: "3"}}' > "$DIR/$3.req"
    post_json "$1/v1/batches" "$3" "$DIR/$3.req"
}

# usage: poll URL NAME JQ_DONE — GETs until the filter holds (≤ 6 s).
poll() {
    local url=$1 name=$2 done=$3
    for _ in $(seq 1 60); do
        [ "$(req GET "$url" "$name")" = 200 ] || fail "GET $url is not 200"
        [ "$(jq -e "$done" "$DIR/$name.json")" = true ] && return 0
        sleep 0.1
    done
    fail "GET $url never reached $done: $(cat "$DIR/$name.json")"
}

fetch() { # usage: fetch BASE_URL FILE_ID OUT
    [ "$(curl -s -m 30 -o "$3" -w '%{http_code}' "$1/v1/files/$2/content")" = 200 ] || fail "cannot download $2"
}

# ================================================================ OpenAI
N=20
openai_input "$DIR/in.jsonl" $N
[ "$(upload "$URL" "$DIR/in.jsonl" up)" = 200 ] || fail "upload is not 200: $(cat "$DIR/up.json")"
F="$DIR/up.json"
check "file id" '.id | startswith("file-")' "$F"
check "file object" '.object == "file"' "$F"
check "file bytes" ".bytes == $(wc -c < "$DIR/in.jsonl")" "$F"
check "file times" '(.created_at | type == "number") and (.expires_at | type == "number") and .expires_at > .created_at' "$F"
check "file filename, purpose, status" '.filename == "input.jsonl" and .purpose == "batch" and .status == "processed"' "$F"
FILE_ID=$(jq -r .id "$F")
fetch "$URL" "$FILE_ID" "$DIR/in.back"
cmp -s "$DIR/in.jsonl" "$DIR/in.back" || fail "the uploaded file does not come back byte for byte"
[ "$(req GET "$URL/v1/files/$FILE_ID" fget)" = 200 ] || fail "GET /v1/files/{id} not 200"
check "file GET" ".id == \"$FILE_ID\" and .purpose == \"batch\"" "$DIR/fget.json"
[ "$(req POST "$URL/v1/files" upbad -F "purpose=fine-tune" -F "file=@$DIR/in.jsonl")" = 400 ] || fail "a non-batch purpose is accepted"
[ "$(req POST "$URL/v1/files" upbad2 -F "purpose=batch")" = 400 ] || fail "an upload without file is accepted"
check "upload error shape" '.error | .type == "invalid_request_error" and has("param") and has("code")' "$DIR/upbad2.json"
pass "upload: file object, content round trip, purpose/file required"

[ "$(create_openai "$URL" "$FILE_ID" cr)" = 200 ] || fail "create is not 200: $(cat "$DIR/cr.json")"
F="$DIR/cr.json"
check "batch id" '.id | startswith("batch_")' "$F"
check "batch object" '.object == "batch" and .endpoint == "/v1/chat/completions" and .model == "oracle"' "$F"
check "batch input/window" ".input_file_id == \"$FILE_ID\" and .completion_window == \"24h\"" "$F"
check "batch starts validating" '.status == "validating" and .errors == null' "$F"
check "batch has every field" 'has("output_file_id") and has("error_file_id") and has("in_progress_at")
    and has("finalizing_at") and has("completed_at") and has("failed_at") and has("expired_at")
    and has("cancelling_at") and has("cancelled_at")' "$F"
check "batch expires 24 h after creation" '.expires_at - .created_at == 86400' "$F"
check "batch metadata" '.metadata == {run: "nightly", shard: "3"}' "$F"
check "batch counts at start" ".request_counts == {total: $((N + 1)), completed: 0, failed: 0}" "$F"
check "batch usage shape" '.usage | (.input_tokens | type == "number") and (.input_tokens_details.cached_tokens | type == "number")
    and (.output_tokens | type == "number") and (.output_tokens_details.reasoning_tokens | type == "number")
    and (.total_tokens | type == "number")' "$F"
BATCH=$(jq -r .id "$F")
STATES=$(mktemp "$DIR/states.XXXX")
for _ in $(seq 1 300); do
    req GET "$URL/v1/batches/$BATCH" st >/dev/null
    jq -r .status "$DIR/st.json" >> "$STATES"
    [ "$(jq -r .status "$DIR/st.json")" = completed ] && break
    sleep 0.05
done
grep -q in_progress "$STATES" || fail "never saw in_progress: $(sort -u "$STATES" | tr '\n' ' ')"
F="$DIR/st.json"
check "completed" '.status == "completed"' "$F"
check "completed times" '(.in_progress_at | type == "number") and (.finalizing_at | type == "number")
    and (.completed_at | type == "number") and .failed_at == null and .expired_at == null and .cancelled_at == null' "$F"
check "completed counts" ".request_counts == {total: $((N + 1)), completed: $N, failed: 1}" "$F"
check "output and error files" '(.output_file_id | startswith("file-")) and (.error_file_id | startswith("file-"))' "$F"
pass "create and poll: validating -> in_progress -> completed"

fetch "$URL" "$(jq -r .output_file_id "$F")" "$DIR/out.jsonl"
fetch "$URL" "$(jq -r .error_file_id "$F")" "$DIR/err.jsonl"
[ "$(wc -l < "$DIR/out.jsonl")" = $N ] || fail "output file has $(wc -l < "$DIR/out.jsonl") lines, want $N"
check_all "output line keys" 'keys == ["custom_id", "error", "id", "response"]' "$DIR/out.jsonl"
check_all "output line id" '.id | startswith("batch_req_")' "$DIR/out.jsonl"
check_all "output line response" '.error == null and .response.status_code == 200
    and (.response.request_id | type == "string") and .response.body.object == "chat.completion"
    and (.response.body.id | startswith("chatcmpl-")) and .response.body.model == "oracle"
    and .response.body.choices[0].message.role == "assistant" and .response.body.choices[0].finish_reason == "stop"
    and .response.body.usage.total_tokens == .response.body.usage.prompt_tokens + .response.body.usage.completion_tokens' \
    "$DIR/out.jsonl"
want=$(seq 1 $N | sed 's/^/req-/' | sort | tr '\n' ' ')
got=$(jq -r .custom_id "$DIR/out.jsonl" | sort | tr '\n' ' ')
[ "$got" = "$want" ] || fail "output custom_ids: $got"
[ "$(wc -l < "$DIR/err.jsonl")" = 1 ] || fail "error file should have the one unknown-model line"
check "error line for the unknown model" '.custom_id == "bad-model" and (.id | startswith("batch_req_")) and .error == null
    and .response.status_code == 404 and .response.body.error.code == "model_not_found"' "$DIR/err.jsonl"
jq -s 'map(.response.body.usage) | {input_tokens: (map(.prompt_tokens) | add),
    cached: (map(.prompt_tokens_details.cached_tokens) | add), output_tokens: (map(.completion_tokens) | add)}' \
    "$DIR/out.jsonl" > "$DIR/sum.json"
check "batch usage = sum of the lines" "{input: .usage.input_tokens, cached: .usage.input_tokens_details.cached_tokens,
    output: .usage.output_tokens} == {input: $(jq .input_tokens "$DIR/sum.json"),
    cached: $(jq .cached "$DIR/sum.json"), output: $(jq .output_tokens "$DIR/sum.json")}
    and .usage.total_tokens == .usage.input_tokens + .usage.output_tokens" "$F"
# Shuffled: over three 20-line files at least one is not in input order.
in_order=$( [ "$(jq -r .custom_id "$DIR/out.jsonl" | tr '\n' ' ')" = "$(seq 1 $N | sed 's/^/req-/' | tr '\n' ' ')" ] && echo y || echo n)
pass "output file: $N lines of the documented shape, every custom_id once, usage summed (in order: $in_order)"

# A batch answer equals the realtime answer to the same request.
for i in 1 7; do
    jq -c "select(.custom_id == \"req-$i\") | .body" "$DIR/in.jsonl" > "$DIR/rt.req"
    post_json "$URL/v1/chat/completions" rt "$DIR/rt.req" >/dev/null
    jq -c "select(.custom_id == \"req-$i\") | .response.body | {c: .choices, u: .usage, m: .model, s: .system_fingerprint}" \
        "$DIR/out.jsonl" > "$DIR/b.cmp"
    jq -c '{c: .choices, u: .usage, m: .model, s: .system_fingerprint}' "$DIR/rt.json" > "$DIR/r.cmp"
    cmp -s "$DIR/b.cmp" "$DIR/r.cmp" || fail "batch and realtime answers differ for req-$i: $(cat "$DIR/b.cmp") vs $(cat "$DIR/r.cmp")"
done
check "gold line answered correctly" 'select(.custom_id == "req-1") | .response.body.choices[0].message.content
    | sub("^```json\n"; "") | sub("\n```$"; "") | fromjson | .label == "billing"' "$DIR/out.jsonl"
pass "batch answers = realtime answers (content, usage, fingerprint)"

U="$DIR/normal.csv"
[ "$(grep -c ',openai-batch,' "$U")" = $N ] || fail "usage log has $(grep -c ',openai-batch,' "$U") openai-batch lines, want $N"
jq -r '.response.body | [.id, "openai-batch", .model, .usage.prompt_tokens, .usage.prompt_tokens_details.cached_tokens,
    .usage.completion_tokens, "ok", "", 0, 0, "batch"] | join(",")' "$DIR/out.jsonl" | sort > "$DIR/want.csv"
grep ',openai-batch,' "$U" | sort > "$DIR/got.csv"
cmp -s "$DIR/want.csv" "$DIR/got.csv" || fail "openai-batch usage lines do not match the output file"
req GET "$URL/v1/batches/$BATCH" again >/dev/null
[ "$(grep -c ',openai-batch,' "$U")" = $N ] || fail "polling again logged the batch twice"
pass "usage log: one openai-batch line per succeeded line, logged once"

# Validation failures: the batch is created, then fails after validating.
{ head -n 2 "$DIR/in.jsonl"; head -n 1 "$DIR/in.jsonl"; } > "$DIR/dup.jsonl"
jq -c '.method = "GET"' <(head -n 1 "$DIR/in.jsonl") | sed 's/"req-1"/"get-1"/' >> "$DIR/dup.jsonl"
upload "$URL" "$DIR/dup.jsonl" up2 >/dev/null
[ "$(create_openai "$URL" "$(jq -r .id "$DIR/up2.json")" cr2)" = 200 ] || fail "create of an invalid file is not 200"
poll "$URL/v1/batches/$(jq -r .id "$DIR/cr2.json")" st2 '.status == "failed"'
F="$DIR/st2.json"
check "failed: errors list" '.errors.object == "list" and (.errors.data | length >= 2)' "$F"
check "failed: error entries" '.errors.data | all(has("code") and has("message") and has("param") and has("line"))' "$F"
check "failed: duplicate custom_id" '.errors.data | any(.code == "duplicate_custom_id" and .line == 3)' "$F"
check "failed: method" '.errors.data | any(.code == "invalid_method" and .line == 4)' "$F"
check "failed: times and files" '(.failed_at | type == "number") and .output_file_id == null and .error_file_id == null
    and .completed_at == null' "$F"
jq -nc '{input_file_id: "file-nope", endpoint: "/v1/chat/completions", completion_window: "24h"}' > "$DIR/c3.req"
[ "$(post_json "$URL/v1/batches" c3 "$DIR/c3.req")" = 404 ] || fail "unknown input file is not 404"
jq -nc --arg f "$FILE_ID" '{input_file_id: $f, endpoint: "/v1/chat/completions", completion_window: "1h"}' > "$DIR/c4.req"
[ "$(post_json "$URL/v1/batches" c4 "$DIR/c4.req")" = 400 ] || fail "completion_window 1h is not 400"
check "400 shape" '.error.type == "invalid_request_error"' "$DIR/c4.json"
[ "$(req GET "$URL/v1/batches/batch_nope" nb)" = 404 ] || fail "unknown batch is not 404"
pass "validation: failed batch with errors.data; 404 unknown file/batch; 400 bad window"

# Cancel right after creation: cancelling, then cancelled; nothing done yet.
create_openai "$URL" "$FILE_ID" cr5 >/dev/null
B5=$(jq -r .id "$DIR/cr5.json")
[ "$(req POST "$URL/v1/batches/$B5/cancel" can)" = 200 ] || fail "cancel is not 200"
check "cancelling" '.status == "cancelling" and (.cancelling_at | type == "number")' "$DIR/can.json"
poll "$URL/v1/batches/$B5" st5 '.status == "cancelled"'
F="$DIR/st5.json"
check "cancelled" '(.cancelled_at | type == "number") and .completed_at == null and .request_counts.total == 21
    and .request_counts.completed + .request_counts.failed == 21' "$F"
fetch "$URL" "$(jq -r .error_file_id "$F")" "$DIR/can.jsonl"
check_all "cancelled lines" '.response == null and .error.code == "batch_cancelled" and (.error.message | type == "string")' "$DIR/can.jsonl"
[ "$(req POST "$URL/v1/batches/$BATCH/cancel" can2)" = 409 ] || fail "cancelling a completed batch is not refused"
pass "cancel: cancelling -> cancelled, batch_cancelled lines, completed batches refuse"

[ "$(req GET "$URL/v1/batches?limit=2" ls)" = 200 ] || fail "list is not 200"
check "list page 1" ".object == \"list\" and (.data | length == 2) and .first_id == \"$B5\" and .has_more == true
    and .last_id == .data[1].id and all(.data[]; .object == \"batch\")" "$DIR/ls.json"
req GET "$URL/v1/batches?limit=2&after=$(jq -r .last_id "$DIR/ls.json")" ls2 >/dev/null
check "list page 2" ".data | length == 1 and .[0].id == \"$BATCH\"" "$DIR/ls2.json"
check "list end" '.has_more == false' "$DIR/ls2.json"
[ "$(req GET "$URL/v1/batches?limit=0" ls3)" = 400 ] || fail "limit 0 is not 400"
pass "list: newest first, after/limit paging, has_more"

# ================================================================ Anthropic
anthropic_input() { # usage: anthropic_input FILE N — N oracle requests + "bad-model"
    jq -c '{custom_id, params: (.body | {model, max_tokens: 200, system: .messages[0].content,
        messages: [{role: "user", content: .messages[1].content}]})}' "$1.oa" > "$1.lines"
    jq -sc '{requests: .}' "$1.lines" > "$1"
}
openai_input "$DIR/an.req.oa" $N
openai_input "$DIR/an40.req.oa" 40
anthropic_input "$DIR/an.req" $N
[ "$(post_json "$URL/v1/messages/batches" an "$DIR/an.req")" = 200 ] || fail "message batch create not 200: $(cat "$DIR/an.json")"
F="$DIR/an.json"
check "msgbatch id/type" '(.id | startswith("msgbatch_")) and .type == "message_batch"' "$F"
check "msgbatch in_progress" '.processing_status == "in_progress"' "$F"
check "msgbatch counts" ".request_counts == {processing: $((N + 1)), succeeded: 0, errored: 0, canceled: 0, expired: 0}" "$F"
check "msgbatch RFC 3339 times" '[.created_at, .expires_at] | all(test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$"))' "$F"
check "msgbatch expires 24 h later" '((.expires_at | fromdateiso8601) - (.created_at | fromdateiso8601)) == 86400' "$F"
check "msgbatch nulls" '.ended_at == null and .cancel_initiated_at == null and .archived_at == null and .results_url == null
    and has("ended_at") and has("cancel_initiated_at") and has("archived_at") and has("results_url")' "$F"
AB=$(jq -r .id "$F")
code=$(req GET "$URL/v1/messages/batches/$AB/results" early)
[ "$code" = 404 ] || [ "$code" = 409 ] || fail "results before the end are not refused (got $code)"
check "early results error shape" '.type == "error" and (.error.type | IN("not_found_error", "conflict_error"))' "$DIR/early.json"
req GET "$URL/v1/messages/batches/$AB" mid >/dev/null
check "counts other than processing stay 0 until the end" '.processing_status == "ended" or
    (.request_counts.succeeded == 0 and .request_counts.errored == 0 and .request_counts.processing == 21)' "$DIR/mid.json"
poll "$URL/v1/messages/batches/$AB" ast '.processing_status == "ended"'
F="$DIR/ast.json"
check "ended counts" ".request_counts == {processing: 0, succeeded: $N, errored: 1, canceled: 0, expired: 0}" "$F"
check "ended_at, results_url" "(.ended_at | test(\"Z\$\")) and .results_url == \"$URL/v1/messages/batches/$AB/results\"" "$F"
[ "$(curl -s -m 30 -o "$DIR/res.jsonl" -w '%{http_code}' "$(jq -r .results_url "$F")")" = 200 ] || fail "results_url is not 200"
[ "$(wc -l < "$DIR/res.jsonl")" = $((N + 1)) ] || fail "results have $(wc -l < "$DIR/res.jsonl") lines"
check_all "result line keys" 'keys == ["custom_id", "result"]' "$DIR/res.jsonl"
check_all "succeeded lines" 'select(.custom_id != "bad-model") | .result.type == "succeeded" and .result.message.type == "message"
    and (.result.message.id | startswith("msg_")) and .result.message.role == "assistant" and .result.message.model == "oracle"
    and .result.message.content[0].type == "text" and .result.message.stop_reason == "end_turn"
    and (.result.message.usage.input_tokens | type == "number") and .result.message.usage.service_tier == "batch"' "$DIR/res.jsonl"
check "errored line" 'select(.custom_id == "bad-model") | .result.type == "errored" and .result.error.type == "error"
    and .result.error.error.type == "not_found_error" and (.result.error.error.message | type == "string")
    and (.result.error.request_id | type == "string")' "$DIR/res.jsonl"
want=$( (seq 1 $N | sed 's/^/req-/'; echo bad-model) | sort | tr '\n' ' ')
got=$(jq -r .custom_id "$DIR/res.jsonl" | sort | tr '\n' ' ')
[ "$got" = "$want" ] || fail "results custom_ids: $got"
[ "$(jq -r .custom_id "$DIR/res.jsonl" | tr '\n' ' ')" != "$( (seq 1 $N | sed 's/^/req-/'; echo bad-model) | tr '\n' ' ')" ] \
    || [ "$in_order" = n ] || fail "neither result file is shuffled"
pass "Anthropic: create, poll, results (every line's shape, custom_ids, shuffled)"

for i in 1 9; do
    jq -c "select(.custom_id == \"req-$i\") | .params" "$DIR/an.req.lines" > "$DIR/art.req"
    post_json "$URL/v1/messages" art "$DIR/art.req" >/dev/null
    jq -c "select(.custom_id == \"req-$i\") | .result.message | {c: .content, u: (.usage | del(.service_tier)), s: .stop_reason}" \
        "$DIR/res.jsonl" > "$DIR/b.cmp"
    jq -c '{c: .content, u: (.usage | del(.service_tier)), s: .stop_reason}' "$DIR/art.json" > "$DIR/r.cmp"
    cmp -s "$DIR/b.cmp" "$DIR/r.cmp" || fail "Anthropic batch and realtime differ for req-$i: $(cat "$DIR/b.cmp") vs $(cat "$DIR/r.cmp")"
done
jq -r 'select(.result.type == "succeeded") | .result.message | [.id, "anthropic-batch", .model,
    .usage.input_tokens + .usage.cache_read_input_tokens + .usage.cache_creation_input_tokens,
    .usage.cache_read_input_tokens, .usage.output_tokens, "ok", "", .usage.cache_creation_input_tokens,
    .usage.cache_creation.ephemeral_1h_input_tokens, "batch"] | join(",")' "$DIR/res.jsonl" | sort > "$DIR/want.csv"
grep ',anthropic-batch,' "$U" | sort > "$DIR/got.csv"
cmp -s "$DIR/want.csv" "$DIR/got.csv" || fail "anthropic-batch usage lines do not match the results"
pass "Anthropic batch answers = realtime; usage log anthropic-batch lines"

# Validation is synchronous here: 400 invalid_request_error.
bad_create() { # usage: bad_create WHAT JQ_EDIT
    jq -c "$2" "$DIR/an.req" > "$DIR/anbad.req"
    [ "$(post_json "$URL/v1/messages/batches" anbad "$DIR/anbad.req")" = 400 ] || fail "$1 is not 400"
    check "$1: error shape" '.type == "error" and .error.type == "invalid_request_error" and (.request_id | type == "string")' "$DIR/anbad.json"
}
bad_create "missing max_tokens" 'del(.requests[2].params.max_tokens)'
bad_create "max_tokens 0" '.requests[0].params.max_tokens = 0'
bad_create "duplicate custom_id" '.requests[1].custom_id = "req-1"'
bad_create "empty requests" '.requests = []'
bad_create "bad custom_id" '.requests[0].custom_id = "has space"'
[ "$(req GET "$URL/v1/messages/batches/msgbatch_nope" anf)" = 404 ] || fail "unknown message batch is not 404"
check "404 shape" '.error.type == "not_found_error"' "$DIR/anf.json"
pass "Anthropic validation: max_tokens required and > 0, unique custom_id, 404"

post_json "$URL/v1/messages/batches" anc "$DIR/an.req" >/dev/null
ABC=$(jq -r .id "$DIR/anc.json")
[ "$(req POST "$URL/v1/messages/batches/$ABC/cancel" ancan)" = 200 ] || fail "message batch cancel is not 200"
check "canceling" '.processing_status == "canceling" and (.cancel_initiated_at | type == "string")' "$DIR/ancan.json"
poll "$URL/v1/messages/batches/$ABC" ancst '.processing_status == "ended"'
check "canceled counts" '.request_counts.canceled > 0 and .request_counts.processing == 0 and
    ([.request_counts[]] | add) == 21' "$DIR/ancst.json"
curl -s -m 30 "$URL/v1/messages/batches/$ABC/results" > "$DIR/ancres.jsonl"
check_all "canceled lines" '.result.type | IN("canceled", "succeeded", "errored")' "$DIR/ancres.jsonl"
[ "$(jq -s 'map(select(.result.type == "canceled")) | length' "$DIR/ancres.jsonl")" = "$(jq .request_counts.canceled "$DIR/ancst.json")" ] \
    || fail "canceled lines != canceled count"
req GET "$URL/v1/messages/batches?limit=1" anl >/dev/null
check "list" ".data[0].id == \"$ABC\" and .has_more == true and .first_id == \"$ABC\" and .last_id == \"$ABC\"" "$DIR/anl.json"
req GET "$URL/v1/messages/batches?limit=1&after_id=$ABC" anl2 >/dev/null
check "list after_id" ".data[0].id == \"$AB\" and .has_more == false" "$DIR/anl2.json"
pass "Anthropic cancel (canceling -> ended, canceled lines) and list paging"

# ================================================================ end states
# All batches of the last three emulators are created first, then polled,
# so their turnarounds overlap.
M=40
openai_input "$DIR/in40.jsonl" $M
anthropic_input "$DIR/an40.req" $M
upload "$URL_errored" "$DIR/in40.jsonl" eup >/dev/null
create_openai "$URL_errored" "$(jq -r .id "$DIR/eup.json")" ecr >/dev/null
post_json "$URL_errored/v1/messages/batches" ean "$DIR/an40.req" >/dev/null
upload "$URL_expire" "$DIR/in.jsonl" xup >/dev/null
create_openai "$URL_expire" "$(jq -r .id "$DIR/xup.json")" xcr >/dev/null
post_json "$URL_expire/v1/messages/batches" xan "$DIR/an.req" >/dev/null
upload "$URL_fail" "$DIR/in.jsonl" fup >/dev/null
create_openai "$URL_fail" "$(jq -r .id "$DIR/fup.json")" fcr >/dev/null
post_json "$URL_fail/v1/messages/batches" fan "$DIR/an.req" >/dev/null

# ---------------------------------------------------------------- errored share
poll "$URL_errored/v1/batches/$(jq -r .id "$DIR/ecr.json")" est '.status == "completed"'
failed=$(jq .request_counts.failed "$DIR/est.json")
[ "$failed" -ge 5 ] && [ "$failed" -le 36 ] || fail "errored_share 0.5 failed $failed of $((M + 1))"
fetch "$URL_errored" "$(jq -r .error_file_id "$DIR/est.json")" "$DIR/eerr.jsonl"
check_all "errored lines are server errors" '.error == null and (.response.status_code | IN(500, 404))
    and (.response.status_code != 500 or .response.body.error.type == "server_error")' "$DIR/eerr.jsonl"
[ "$(wc -l < "$DIR/eerr.jsonl")" = "$failed" ] || fail "error file lines != failed count"
[ "$(grep -c ',openai-batch,' "$DIR/errored.csv")" = "$(jq .request_counts.completed "$DIR/est.json")" ] \
    || fail "usage log does not match the completed count"
poll "$URL_errored/v1/messages/batches/$(jq -r .id "$DIR/ean.json")" eanst '.processing_status == "ended"'
errored=$(jq .request_counts.errored "$DIR/eanst.json")
[ "$errored" -ge 5 ] && [ "$errored" -le 36 ] || fail "Anthropic errored_share 0.5 errored $errored"
curl -s "$URL_errored/v1/messages/batches/$(jq -r .id "$DIR/ean.json")/results" > "$DIR/eanres.jsonl"
check_all "Anthropic errored lines" '.result.type == "succeeded" or (.result.type == "errored"
    and (.result.error.error.type | IN("api_error", "not_found_error")))' "$DIR/eanres.jsonl"
[ "$(grep -c ',anthropic-batch,' "$DIR/errored.csv")" = "$(jq .request_counts.succeeded "$DIR/eanst.json")" ] \
    || fail "Anthropic usage log does not match the succeeded count"
pass "errored_share: $failed / $errored of $((M + 1)) lines errored (OpenAI / Anthropic)"

# ---------------------------------------------------------------- expiry
poll "$URL_expire/v1/batches/$(jq -r .id "$DIR/xcr.json")" xst '.status == "expired"'
F="$DIR/xst.json"
half=$(((N + 1) / 2))
check "expired" "(.expired_at | type == \"number\") and .completed_at == null and .request_counts.total == $((N + 1))
    and .request_counts.completed + .request_counts.failed == $((N + 1)) and .request_counts.completed >= $((half - 1))
    and .request_counts.completed <= $half" "$F"
fetch "$URL_expire" "$(jq -r .error_file_id "$F")" "$DIR/xerr.jsonl"
[ "$(jq -s 'map(select(.error.code == "batch_expired")) | length' "$DIR/xerr.jsonl")" = $((N + 1 - half)) ] \
    || fail "expired batch: want $((N + 1 - half)) batch_expired lines"
check_all "expired lines" '.error.code == "batch_expired" and .response == null
    or .response.status_code == 404' "$DIR/xerr.jsonl"
poll "$URL_expire/v1/messages/batches/$(jq -r .id "$DIR/xan.json")" xanst '.processing_status == "ended"'
check "Anthropic expired counts" ".request_counts.expired == $((N + 1 - half)) and
    .request_counts.succeeded + .request_counts.errored == $half" "$DIR/xanst.json"
curl -s "$URL_expire/v1/messages/batches/$(jq -r .id "$DIR/xan.json")/results" > "$DIR/xanres.jsonl"
[ "$(jq -s 'map(select(.result == {type: "expired"})) | length' "$DIR/xanres.jsonl")" = $((N + 1 - half)) ] \
    || fail "Anthropic: want $((N + 1 - half)) {type: expired} lines"
pass "expire: first half done, the rest batch_expired / expired"

# ---------------------------------------------------------------- failure
poll "$URL_fail/v1/batches/$(jq -r .id "$DIR/fcr.json")" fst '.status == "failed"'
check "failed batch" '(.failed_at | type == "number") and (.errors.data | length >= 1)
    and (.errors.data[0].code | type == "string") and .output_file_id == null' "$DIR/fst.json"
poll "$URL_fail/v1/messages/batches/$(jq -r .id "$DIR/fan.json")" fanst '.processing_status == "ended"'
check "Anthropic fail: every line errored" ".request_counts.errored == $((N + 1)) and .request_counts.succeeded == 0" "$DIR/fanst.json"
curl -s "$URL_fail/v1/messages/batches/$(jq -r .id "$DIR/fan.json")/results" > "$DIR/fanres.jsonl"
check_all "Anthropic fail lines" '.result.type == "errored" and .result.error.error.type == "api_error"' "$DIR/fanres.jsonl"
[ "$(grep -c -- '-batch,' "$DIR/fail.csv" || true)" = 0 ] || fail "a failed batch billed lines"
pass "fail: OpenAI failed with errors.data, Anthropic every line errored, nothing billed"

echo "all $CHECKS groups of emulator batch checks passed"
