#!/usr/bin/env bash
# 10-emulator-wire.sh — the provider emulator speaks both wire formats.
#
# Starts sluice-emulator on a free loopback port with a small model file and
# gold file, then checks with curl + jq, field by field: the OpenAI and
# Anthropic success shapes, token accounting (OpenAI cached subset,
# Anthropic additive; the cache rules themselves are 13-emulator-cache.sh),
# determinism, task kinds, truncation, error shapes,
# injected faults, the usage log and a clean SIGTERM exit.
# Standalone on purpose (emulator-lib.sh, not lib.sh): it needs no
# PostgreSQL or broker.
set -euo pipefail

# shellcheck source=emulator-lib.sh
source "$(dirname "$0")/emulator-lib.sh" emu-wire
need_cmd jq curl

# ---------------------------------------------------------------- set-up
GOLD_TEXT="I was charged twice for the headphones on order A01007."
jq -nc --arg t "$GOLD_TEXT" '{text: $t, labels: {intent: "billing", priority: "high"},
    data: {order_id: "A01007", product: "headphones", issue: "billing"}}' > "$DIR/gold.jsonl"
jq -nc '{text: "Where is my laptop?", labels: {intent: "shipping"}}' >> "$DIR/gold.jsonl"

ranges='"confidence_correct": [0.70, 0.99], "confidence_wrong": [0.30, 0.60]'
cat > "$DIR/wire.json" <<JSON
{
  "gold": "gold.jsonl",
  "models": {
    "oracle":    {"accuracy": 1.0, $ranges},
    "liar":      {"accuracy": 0.0, $ranges},
    "slowpoke":  {"accuracy": 0.8, $ranges, "latency_ms": {"median": 50, "sigma": 0.2}},
    "limited":   {"faults": {"http_429": 1.0, "retry_after_s": 3}},
    "crowded":   {"faults": {"overload": 1.0, "retry_after_s": 2}},
    "broken":    {"faults": {"http_500": 1.0}},
    "garbled":   {"faults": {"malformed": 1.0}}
  }
}
JSON

# A bad key must be refused at start, naming the key.
jq '.models.oracle.faults = {"http500": 0.1}' "$DIR/wire.json" > "$DIR/bad.json"
if "$EMU" --config "$DIR/bad.json" --port 0 >/dev/null 2>"$DIR/bad.err"; then
    fail "a config with an unknown key was accepted"
fi
grep -q 'models.oracle.faults.http500' "$DIR/bad.err" || fail "config error does not name the bad key: $(cat "$DIR/bad.err")"
pass "config validation names the bad key"

emu_start wire --verbose
# shellcheck disable=SC2154 # URL_wire and PID_wire: set by emu_start
URL=$URL_wire
[ "$(wc -l < "$DIR/wire.out")" -eq 1 ] || fail "emulator printed more than one line to stdout"
pass "emulator listening at $URL"

# usage: post PATH REQUEST_FILE NAME [curl args…] — body in $DIR/NAME.json,
# headers in $DIR/NAME.h; prints the HTTP status.
post() {
    local path=$1 req=$2 name=$3
    shift 3
    curl -s -m 30 -o "$DIR/$name.json" -D "$DIR/$name.h" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-test' -H 'x-api-key: sk-test' \
        --data-binary "@$req" "$@" "$URL$path"
}

header() {
    grep -i "^$1:" "$2" | head -n1 | cut -d: -f2- | tr -d ' \r'
}

# The answer object inside the content, fences stripped (models add them).
ANSWER='(sub("^```json\n"; "") | sub("\n```$"; "") | fromjson)'

SYSTEM="You classify customer support tickets. Answer with one JSON object."
label_prompt() {
    printf 'Classify the ticket.\n<labels>refund, billing, shipping, other</labels>\n<input>%s</input>' "$1"
}

openai_req() { # usage: openai_req MODEL USER_TEXT [MAX]
    jq -n --arg m "$1" --arg s "$SYSTEM" --arg u "$2" --argjson max "${3:-null}" \
        '{model: $m, temperature: 0, messages: [{role: "system", content: $s}, {role: "user", content: $u}]}
         + (if $max then {max_completion_tokens: $max} else {} end)'
}

anthropic_req() { # usage: anthropic_req MODEL USER_TEXT [MAX] — content as text blocks
    jq -n --arg m "$1" --arg s "$SYSTEM" --arg u "$2" --argjson max "${3:-200}" \
        '{model: $m, max_tokens: $max, system: $s,
          messages: [{role: "user", content: [{type: "text", text: $u}]}]}'
}

# ---------------------------------------------------------------- basics
[ "$(curl -s -m 5 "$URL/healthz")" = ok ] || fail "GET /healthz is not 'ok'"
pass "healthz"

# ---------------------------------------------------------------- OpenAI success shape
openai_req oracle "$(label_prompt "$GOLD_TEXT")" > "$DIR/oa.req"
[ "$(post /v1/chat/completions "$DIR/oa.req" oa)" = 200 ] || fail "OpenAI label request not 200"
[ -n "$(header x-request-id "$DIR/oa.h")" ] || fail "OpenAI reply has no x-request-id header"
F="$DIR/oa.json"
check "openai id" '.id | type == "string" and startswith("chatcmpl-")' "$F"
check "openai object" '.object == "chat.completion"' "$F"
check "openai created" '.created | type == "number" and . > 1600000000' "$F"
check "openai model" '.model == "oracle"' "$F"
check "openai one choice" '.choices | type == "array" and length == 1' "$F"
check "openai choice index" '.choices[0].index == 0' "$F"
check "openai message role" '.choices[0].message.role == "assistant"' "$F"
check "openai message content" '.choices[0].message.content | type == "string"' "$F"
check "openai refusal null" '.choices[0].message | has("refusal") and .refusal == null' "$F"
check "openai finish_reason" '.choices[0].finish_reason == "stop"' "$F"
check "openai service_tier" '.service_tier | type == "string"' "$F"
check "openai system_fingerprint" '.system_fingerprint | type == "string"' "$F"
for k in prompt_tokens completion_tokens total_tokens; do
    check "openai usage.$k" ".usage.$k | type == \"number\"" "$F"
done
for k in cached_tokens audio_tokens; do
    check "openai prompt_tokens_details.$k" ".usage.prompt_tokens_details.$k | type == \"number\"" "$F"
done
for k in reasoning_tokens audio_tokens accepted_prediction_tokens rejected_prediction_tokens; do
    check "openai completion_tokens_details.$k" ".usage.completion_tokens_details.$k | type == \"number\"" "$F"
done
check "openai total = prompt + completion" '.usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens' "$F"
check "openai oracle answers the gold label" ".choices[0].message.content | $ANSWER | .label == \"billing\"" "$F"
check "openai confidence in the correct range" ".choices[0].message.content | $ANSWER | .confidence >= 0.70 and .confidence <= 0.99" "$F"
check "openai completion tokens = ceil(chars/4)" \
    '.usage.completion_tokens == (((.choices[0].message.content | length) + 3) / 4 | floor)' "$F"
PROMPT_TOKENS=$(jq '[.messages[].content | length] | add | (. + 3) / 4 | floor' "$DIR/oa.req")
check "openai prompt tokens = ceil(all prompt chars/4)" ".usage.prompt_tokens == $PROMPT_TOKENS" "$F"
# Under 1,024 tokens OpenAI never caches, however often the prompt repeats.
check "openai short prompt: no cached tokens" ".usage.prompt_tokens_details.cached_tokens == 0" "$F"
check "openai cached tokens are a subset of prompt tokens" \
    '.usage.prompt_tokens_details.cached_tokens <= .usage.prompt_tokens' "$F"
pass "OpenAI success shape, usage and cached subset"

# ---------------------------------------------------------------- Anthropic success shape
anthropic_req oracle "$(label_prompt "$GOLD_TEXT")" > "$DIR/an.req"
[ "$(post /v1/messages "$DIR/an.req" an -H 'anthropic-version: 2023-06-01')" = 200 ] || fail "Anthropic label request not 200"
[ -n "$(header request-id "$DIR/an.h")" ] || fail "Anthropic reply has no request-id header"
F="$DIR/an.json"
check "anthropic id" '.id | type == "string" and startswith("msg_")' "$F"
check "anthropic type" '.type == "message"' "$F"
check "anthropic role" '.role == "assistant"' "$F"
check "anthropic content blocks" '.content | type == "array" and length >= 1' "$F"
check "anthropic text block" '.content[0].type == "text" and (.content[0].text | type == "string")' "$F"
check "anthropic model" '.model == "oracle"' "$F"
check "anthropic stop_reason" '.stop_reason == "end_turn"' "$F"
check "anthropic stop_sequence null" 'has("stop_sequence") and .stop_sequence == null' "$F"
for k in input_tokens output_tokens cache_creation_input_tokens cache_read_input_tokens; do
    check "anthropic usage.$k" ".usage.$k | type == \"number\"" "$F"
done
for k in ephemeral_5m_input_tokens ephemeral_1h_input_tokens; do
    check "anthropic cache_creation.$k" ".usage.cache_creation.$k | type == \"number\"" "$F"
done
check "anthropic service_tier" '.usage.service_tier == "standard"' "$F"
check "anthropic cache_creation_input_tokens 0 (no cache_control)" '.usage.cache_creation_input_tokens == 0' "$F"
check "anthropic oracle answers the gold label" ".content[0].text | $ANSWER | .label == \"billing\"" "$F"
check "anthropic output tokens = ceil(chars/4)" '.usage.output_tokens == (((.content[0].text | length) + 3) / 4 | floor)' "$F"
A_TOTAL=$(jq '[.system, .messages[].content[].text] | map(length) | add | (. + 3) / 4 | floor' "$DIR/an.req")
check "anthropic no cache_control: cache_read 0" ".usage.cache_read_input_tokens == 0 and .usage.input_tokens == $A_TOTAL" "$F"
check "anthropic input + cache_read + cache_creation = all prompt tokens (additive)" \
    ".usage.input_tokens + .usage.cache_read_input_tokens + .usage.cache_creation_input_tokens == $A_TOTAL" "$F"
pass "Anthropic success shape, usage and additive counts"

# A model that never hits the cache reports none, in either API.
openai_req liar "$(label_prompt "$GOLD_TEXT")" > "$DIR/oa-liar.req"
[ "$(post /v1/chat/completions "$DIR/oa-liar.req" oa-liar)" = 200 ] || fail "OpenAI liar request not 200"
check "no cache hit: cached_tokens 0" '.usage.prompt_tokens_details.cached_tokens == 0' "$DIR/oa-liar.json"
check "wrong answers stay in the label set and differ from gold" \
    ".choices[0].message.content | $ANSWER | .label != \"billing\" and
       (.label | IN(\"refund\", \"shipping\", \"other\"))" "$DIR/oa-liar.json"
check "wrong answers draw from the wrong-confidence range" \
    ".choices[0].message.content | $ANSWER | .confidence >= 0.30 and .confidence <= 0.60" "$DIR/oa-liar.json"
anthropic_req liar "$(label_prompt "$GOLD_TEXT")" > "$DIR/an-liar.req"
[ "$(post /v1/messages "$DIR/an-liar.req" an-liar)" = 200 ] || fail "Anthropic liar request not 200"
check "no cache hit: cache_read 0, input = all" \
    ".usage.cache_read_input_tokens == 0 and .usage.input_tokens == $A_TOTAL" "$DIR/an-liar.json"
pass "cache misses and wrong answers"

# ---------------------------------------------------------------- determinism
for i in 1 2 3; do
    openai_req slowpoke "$(label_prompt "Something about ticket number $i.")" > "$DIR/det.req"
    post /v1/chat/completions "$DIR/det.req" det1 >/dev/null
    post /v1/chat/completions "$DIR/det.req" det2 >/dev/null
    a=$(jq -r '.choices[0].message.content' "$DIR/det1.json")
    b=$(jq -r '.choices[0].message.content' "$DIR/det2.json")
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "same request, different answers: '$a' vs '$b'"
    anthropic_req slowpoke "$(label_prompt "Something about ticket number $i.")" > "$DIR/det.req"
    post /v1/messages "$DIR/det.req" det1 >/dev/null
    post /v1/messages "$DIR/det.req" det2 >/dev/null
    a=$(jq -r '.content[0].text' "$DIR/det1.json")
    b=$(jq -r '.content[0].text' "$DIR/det2.json")
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "same Anthropic request, different answers: '$a' vs '$b'"
done
pass "same request twice -> same label and confidence (both APIs)"

# ---------------------------------------------------------------- JSON and text tasks
SCHEMA='{"type":"object","required":["order_id","product","count"],"properties":{"order_id":{"type":"string"},"product":{"type":"string"},"count":{"type":"integer"}}}'
json_prompt() { printf 'Extract.\n<schema>%s</schema>\n<input>%s</input>' "$SCHEMA" "$1"; }
openai_req oracle "$(json_prompt "$GOLD_TEXT")" > "$DIR/js.req"
[ "$(post /v1/chat/completions "$DIR/js.req" js)" = 200 ] || fail "JSON task not 200"
check "json task: correct answer is the gold data" \
    ".choices[0].message.content | $ANSWER | .data == {\"order_id\":\"A01007\",\"product\":\"headphones\",\"issue\":\"billing\"}" "$DIR/js.json"
openai_req oracle "$(json_prompt "A text the gold file does not know.")" > "$DIR/js2.req"
post /v1/chat/completions "$DIR/js2.req" js2 >/dev/null
check "json task without gold: every required property filled" \
    ".choices[0].message.content | $ANSWER | .data | (.order_id | type == \"string\") and
       (.product | type == \"string\") and (.count | type == \"number\")" "$DIR/js2.json"
openai_req liar "$(json_prompt "$GOLD_TEXT")" > "$DIR/js3.req"
post /v1/chat/completions "$DIR/js3.req" js3 >/dev/null
check "json task, wrong: a required property is missing" \
    ".choices[0].message.content | $ANSWER | .data | (has(\"order_id\") and has(\"product\") and has(\"count\")) | not" "$DIR/js3.json"
anthropic_req oracle "Summarize.<input>one two three four five six seven eight nine ten eleven twelve thirteen</input>" > "$DIR/tx.req"
post /v1/messages "$DIR/tx.req" tx >/dev/null
check "text task: first 12 words" \
    ".content[0].text | $ANSWER | .text == \"one two three four five six seven eight nine ten eleven twelve\"" "$DIR/tx.json"
pass "JSON and text tasks"

# ---------------------------------------------------------------- truncation
openai_req oracle "$(label_prompt "$GOLD_TEXT")" 3 > "$DIR/tr.req"
post /v1/chat/completions "$DIR/tr.req" tr >/dev/null
check "openai max tokens: finish_reason length" \
    '.choices[0].finish_reason == "length" and .usage.completion_tokens == 3
     and (.choices[0].message.content | length) <= 12' "$DIR/tr.json"
anthropic_req oracle "$(label_prompt "$GOLD_TEXT")" 3 > "$DIR/tr2.req"
post /v1/messages "$DIR/tr2.req" tr2 >/dev/null
check "anthropic max tokens: stop_reason max_tokens" \
    '.stop_reason == "max_tokens" and .usage.output_tokens == 3' "$DIR/tr2.json"
pass "truncation at max tokens"

# ---------------------------------------------------------------- errors
openai_req no-such-model "hi" > "$DIR/nm.req"
[ "$(post /v1/chat/completions "$DIR/nm.req" nm)" = 404 ] || fail "unknown OpenAI model is not 404"
check "openai 404 error shape" '.error | (.message | type == "string") and .type == "invalid_request_error"
     and has("param") and .code == "model_not_found"' "$DIR/nm.json"
anthropic_req no-such-model "hi" > "$DIR/nm2.req"
[ "$(post /v1/messages "$DIR/nm2.req" nm2)" = 404 ] || fail "unknown Anthropic model is not 404"
check "anthropic 404 error shape" '.type == "error" and .error.type == "not_found_error"
     and (.error.message | type == "string") and (.request_id | type == "string")' "$DIR/nm2.json"
printf '{"model": "oracle", "messages": [' > "$DIR/bad.req"
[ "$(post /v1/chat/completions "$DIR/bad.req" bad)" = 400 ] || fail "malformed OpenAI JSON is not 400"
check "openai 400 shape" '.error.type == "invalid_request_error"' "$DIR/bad.json"
[ "$(post /v1/messages "$DIR/bad.req" bad2)" = 400 ] || fail "malformed Anthropic JSON is not 400"
check "anthropic 400 shape" '.type == "error" and .error.type == "invalid_request_error"' "$DIR/bad2.json"
code=$(curl -s -m 10 -o "$DIR/ct.json" -w '%{http_code}' --data-binary "@$DIR/oa.req" \
    -H 'Content-Type: text/plain' "$URL/v1/chat/completions")
[ "$code" = 400 ] || fail "a non-JSON Content-Type is not refused (got $code)"
head -c 1100000 /dev/zero | tr '\0' 'x' > "$DIR/big.req"
[ "$(post /v1/messages "$DIR/big.req" big)" = 413 ] || fail "a body over 1 MiB is not 413"
check "anthropic 413 shape" '.error.type == "request_too_large"' "$DIR/big.json"
pass "404 unknown model, 400 bad JSON / content type, 413 too large"

# ---------------------------------------------------------------- faults
openai_req limited "$(label_prompt "$GOLD_TEXT")" > "$DIR/rl.req"
[ "$(post /v1/chat/completions "$DIR/rl.req" rl)" = 429 ] || fail "http_429=1.0 did not give 429 (OpenAI)"
[ "$(header retry-after "$DIR/rl.h")" = 3 ] || fail "OpenAI 429 without retry-after: 3"
check "openai 429 code" '.error.code == "rate_limit_exceeded"' "$DIR/rl.json"
anthropic_req limited "$(label_prompt "$GOLD_TEXT")" > "$DIR/rl2.req"
[ "$(post /v1/messages "$DIR/rl2.req" rl2)" = 429 ] || fail "http_429=1.0 did not give 429 (Anthropic)"
[ "$(header retry-after "$DIR/rl2.h")" = 3 ] || fail "Anthropic 429 without retry-after: 3"
check "anthropic 429 type" '.type == "error" and .error.type == "rate_limit_error"' "$DIR/rl2.json"
anthropic_req crowded "x" > "$DIR/ov.req"
[ "$(post /v1/messages "$DIR/ov.req" ov)" = 529 ] || fail "overload did not give 529 (Anthropic)"
check "anthropic 529 type" '.error.type == "overloaded_error"' "$DIR/ov.json"
[ -n "$(header retry-after "$DIR/ov.h")" ] || fail "529 without retry-after"
openai_req crowded "x" > "$DIR/ov2.req"
[ "$(post /v1/chat/completions "$DIR/ov2.req" ov2)" = 503 ] || fail "overload did not give 503 (OpenAI)"
check "openai 503 code" '.error.code == "server_is_overloaded"' "$DIR/ov2.json"
openai_req broken "x" > "$DIR/se.req"
[ "$(post /v1/chat/completions "$DIR/se.req" se)" = 500 ] || fail "http_500=1.0 did not give 500"
openai_req garbled "$(label_prompt "$GOLD_TEXT")" > "$DIR/mf.req"
[ "$(post /v1/chat/completions "$DIR/mf.req" mf)" = 200 ] || fail "malformed fault is not HTTP 200"
if jq -e . "$DIR/mf.json" >/dev/null 2>&1; then fail "malformed fault body parses as JSON"; fi
[ -s "$DIR/mf.json" ] || fail "malformed fault body is empty"
anthropic_req garbled "x" > "$DIR/mf2.req"
[ "$(post /v1/messages "$DIR/mf2.req" mf2)" = 200 ] || fail "malformed fault is not HTTP 200 (Anthropic)"
if jq -e . "$DIR/mf2.json" >/dev/null 2>&1; then fail "malformed Anthropic body parses as JSON"; fi
pass "faults: 429 + retry-after, 503/529 overload, 500, malformed 200"

# ---------------------------------------------------------------- keep-alive
n=$(curl -s -m 10 -o /dev/null -w '%{num_connects}\n' -H 'Content-Type: application/json' \
    --data-binary "@$DIR/oa.req" "$URL/v1/chat/completions" \
    --next -o /dev/null -w '%{num_connects}\n' -H 'Content-Type: application/json' \
    --data-binary "@$DIR/oa.req" "$URL/v1/chat/completions" | tail -n1)
[ "$n" = 0 ] || fail "second request on one curl handle opened a new connection (keep-alive broken)"
pass "keep-alive"

# ---------------------------------------------------------------- usage log
U="$DIR/wire.csv"
[ "$(head -n1 "$U")" = "request_id,api,model,input_tokens,cached_tokens,output_tokens,status,client_request_id,cache_write_tokens,cache_write_1h_tokens,service_tier" ] \
    || fail "usage log header is '$(head -n1 "$U")'"
usage_line() { grep "^$1," "$U" || fail "no usage log line for $1"; }
id=$(jq -r .id "$DIR/oa.json")
want="$id,openai,oracle,$(jq -r '[.usage.prompt_tokens, .usage.prompt_tokens_details.cached_tokens, .usage.completion_tokens] | join(",")' "$DIR/oa.json"),ok,,0,0,standard"
[ "$(usage_line "$id")" = "$want" ] || fail "usage line '$(usage_line "$id")' != '$want'"
id=$(jq -r .id "$DIR/an.json")
want="$id,anthropic,oracle,$(jq -r '.usage | [.input_tokens + .cache_read_input_tokens + .cache_creation_input_tokens, .cache_read_input_tokens, .output_tokens] | join(",")' "$DIR/an.json"),ok,,$(jq -r '.usage | [.cache_creation_input_tokens, .cache_creation.ephemeral_1h_input_tokens] | join(",")' "$DIR/an.json"),standard"
[ "$(usage_line "$id")" = "$want" ] || fail "usage line '$(usage_line "$id")' != '$want'"
[ "$(grep -c ',garbled,.*,malformed,' "$U")" = 2 ] || fail "usage log lacks the two malformed lines"
if grep -q -e ',limited,' -e ',crowded,' -e ',broken,' -e 'no-such-model' "$U"; then
    fail "usage log has lines for non-200 responses"
fi
ok_200=$(grep -c '^[^,]*,[^,]*,[^,]*,[0-9]*,[0-9]*,[0-9]*,\(ok\|malformed\),[^,]*,[0-9]*,[0-9]*,\(standard\|flex\|batch\)$' "$U" || true)
[ "$ok_200" -eq $(($(wc -l < "$U") - 1)) ] || fail "usage log has malformed lines"
pass "usage log ($ok_200 lines)"

# ---------------------------------------------------------------- shutdown
# shellcheck disable=SC2154
kill -TERM "$PID_wire"
rc=0
wait "$PID_wire" || rc=$?
PIDS=()
[ $rc -eq 0 ] || fail "emulator exited with $rc after SIGTERM"
pass "clean exit on SIGTERM"
echo "all $CHECKS groups of emulator wire checks passed"
