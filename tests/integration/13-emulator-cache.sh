#!/usr/bin/env bash
# 13-emulator-cache.sh — the emulator's prompt cache follows the providers'
# rules, and flex processing is answered like OpenAI's.
#
# Anthropic: nothing is cached without a cache_control breakpoint; a
# breakpoint below the model's minimum caches nothing; above it the first
# request writes (cache_creation_input_tokens, by TTL) and the next reads
# (cache_read_input_tokens) within the TTL, not after it; input + read +
# write add up to the prompt. OpenAI: automatic, only for prompts of 1,024
# tokens or more, read in 128-token steps of the shared prefix. Batches
# use the same cache. Flex: refused where not offered, 429 (unbilled) at
# the configured share, echoed as service_tier "flex", logged as such.
# Standalone (emulator-lib.sh): no PostgreSQL or broker.
set -euo pipefail

# shellcheck source=emulator-lib.sh
source "$(dirname "$0")/emulator-lib.sh" emu-cache
need_cmd jq curl

# TTLs scaled by 0.01: "5m" lives 3 s, OpenAI's 300 s live 3 s.
cat > "$DIR/cache.json" <<'JSON'
{
  "models": {
    "sonnet": {"prompt_cache": {"min_tokens": 1024, "ttl_scale": 0.01}},
    "luna":   {"prompt_cache": {"min_tokens": 1024, "ttl_s": 300, "ttl_scale": 0.01},
               "flex": {"http_429": 0}},
    "busy":   {"flex": {"http_429": 1.0}},
    "plain":  {}
  },
  "batch": {"turnaround_s": 0.5}
}
JSON
emu_start cache
# shellcheck disable=SC2154 # set by emu_start
URL=$URL_cache

post() { # usage: post PATH REQ NAME — prints the status
    curl -s -m 30 -o "$DIR/$3.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H 'anthropic-version: 2023-06-01' --data-binary "@$2" "$URL$1"
}

# A stable prefix of 6,000 characters (1,500 tokens) and a per-job input.
PREFIX=$(printf 'Example %04d: a ticket about a refund for a double charge.\n' $(seq 1 100) | head -c 6000)
anthropic_req() { # usage: anthropic_req INPUT CACHE_CONTROL_JSON_OR_null [SYSTEM]
    jq -nc --arg p "$PREFIX" --arg in "$1" --argjson cc "$2" --arg sys "${3:-You classify tickets.}" '
      {model: "sonnet", max_tokens: 64, system: $sys,
       messages: [{role: "user", content: [
         ({type: "text", text: ("Labels: <labels>refund, other</labels>\n" + $p)}
            + (if $cc == null then {} else {cache_control: $cc} end)),
         {type: "text", text: ("<input>" + $in + "</input>")}]}]}'
}
total_of() { jq '[.system, .messages[].content[].text] | map(length) | add | (. + 3) / 4 | floor' "$1"; }

# --- Anthropic: no breakpoint, no cache -------------------------------------
anthropic_req "one" null > "$DIR/a0.req"
for i in 1 2; do
    [ "$(post /v1/messages "$DIR/a0.req" "a0-$i")" = 200 ] || fail "anthropic request without cache_control"
done
check "no cache_control: nothing written or read" \
    '.usage.cache_creation_input_tokens == 0 and .usage.cache_read_input_tokens == 0' "$DIR/a0-2.json"
pass "Anthropic caches nothing without a cache_control breakpoint"

# --- below the minimum: nothing ---------------------------------------------
jq -nc '{model: "sonnet", max_tokens: 64, system: [{type: "text", text: "Short system.", cache_control: {type: "ephemeral"}}],
         messages: [{role: "user", content: "<input>hi</input>"}]}' > "$DIR/short.req"
for i in 1 2; do post /v1/messages "$DIR/short.req" "short-$i" >/dev/null; done
check "breakpoint below min_tokens: nothing cached" \
    '.usage.cache_creation_input_tokens == 0 and .usage.cache_read_input_tokens == 0' "$DIR/short-2.json"
pass "a breakpoint below the model's minimum caches nothing"

# --- write, then read within the TTL, for another input ---------------------
anthropic_req "first job" '{"type": "ephemeral"}' > "$DIR/a1.req"
anthropic_req "the second job, longer" '{"type": "ephemeral"}' > "$DIR/a2.req"
[ "$(post /v1/messages "$DIR/a1.req" a1)" = 200 ] || fail "anthropic cache write request"
[ "$(post /v1/messages "$DIR/a2.req" a2)" = 200 ] || fail "anthropic cache read request"
SYS_CHARS=$(jq '.system | length' "$DIR/a1.req")
HEAD_CHARS=$(jq '.messages[0].content[0].text | length' "$DIR/a1.req")
BP_TOKENS=$(( (SYS_CHARS + HEAD_CHARS + 3) / 4 ))
check "first request writes the prefix up to the breakpoint" \
    ".usage.cache_creation_input_tokens == $BP_TOKENS and .usage.cache_read_input_tokens == 0
     and .usage.cache_creation.ephemeral_5m_input_tokens == $BP_TOKENS
     and .usage.cache_creation.ephemeral_1h_input_tokens == 0" "$DIR/a1.json"
check "additive: input + write + read = prompt tokens" \
    ".usage.input_tokens + .usage.cache_creation_input_tokens + .usage.cache_read_input_tokens == $(total_of "$DIR/a1.req")" "$DIR/a1.json"
check "second request (another input) reads it" \
    ".usage.cache_read_input_tokens == $BP_TOKENS and .usage.cache_creation_input_tokens == 0" "$DIR/a2.json"
check "additive on a read" \
    ".usage.input_tokens + .usage.cache_read_input_tokens == $(total_of "$DIR/a2.req")" "$DIR/a2.json"
pass "Anthropic: write $BP_TOKENS tokens, then read them within the TTL"

# --- 1-hour TTL writes are reported apart -------------------------------------
anthropic_req "x" '{"type": "ephemeral", "ttl": "1h"}' "Another system prompt." > "$DIR/h1.req"
post /v1/messages "$DIR/h1.req" h1 >/dev/null
check "1h write reported as ephemeral_1h" \
    '.usage.cache_creation_input_tokens > 0 and .usage.cache_creation.ephemeral_1h_input_tokens == .usage.cache_creation_input_tokens' "$DIR/h1.json"
jq '.messages[0].content[0].cache_control.ttl = "2h"' "$DIR/h1.req" > "$DIR/bad-ttl.req"
[ "$(post /v1/messages "$DIR/bad-ttl.req" bad-ttl)" = 400 ] || fail "a ttl other than 5m/1h was accepted"
pass "1-hour writes reported as ephemeral_1h_input_tokens; other TTLs refused"

# --- expiry: after the (scaled) 5 minutes the prefix is written again --------
sleep 3.5
post /v1/messages "$DIR/a2.req" a3 >/dev/null
check "after the TTL: written again, not read" \
    ".usage.cache_read_input_tokens == 0 and .usage.cache_creation_input_tokens == $BP_TOKENS" "$DIR/a3.json"
pass "the cache entry expires after its TTL"

# --- OpenAI: automatic above 1,024 tokens in 128-token steps ------------------
openai_req() { # usage: openai_req MODEL SYSTEM INPUT [SERVICE_TIER]
    jq -nc --arg m "$1" --arg s "$2" --arg in "$3" --arg tier "${4:-}" '
      {model: $m, messages: [{role: "system", content: $s},
                             {role: "user", content: ("<labels>refund, other</labels><input>" + $in + "</input>")}]}
      + (if $tier == "" then {} else {service_tier: $tier} end)'
}
openai_req luna "short system" "a" > "$DIR/o-short.req"
for i in 1 2; do post /v1/chat/completions "$DIR/o-short.req" "o-short-$i" >/dev/null; done
check "under 1,024 tokens: never cached" '.usage.prompt_tokens_details.cached_tokens == 0' "$DIR/o-short-2.json"
openai_req luna "$PREFIX" "first" > "$DIR/o1.req"
openai_req luna "$PREFIX" "second input" > "$DIR/o2.req"
post /v1/chat/completions "$DIR/o1.req" o1 >/dev/null
post /v1/chat/completions "$DIR/o2.req" o2 >/dev/null
# The shared prefix: the system text (6,000 chars) plus the user message up
# to the input: the cached part is the last whole 512-character step of it.
SHARED=$(( 6000 + $(printf '<labels>refund, other</labels><input>' | wc -c) ))
WANT=$(( SHARED / 512 * 128 ))
check "first call: nothing cached" '.usage.prompt_tokens_details.cached_tokens == 0' "$DIR/o1.json"
check "second call: the shared prefix in 128-token steps" \
    ".usage.prompt_tokens_details.cached_tokens == $WANT and .usage.prompt_tokens_details.cached_tokens % 128 == 0
     and .usage.prompt_tokens_details.cached_tokens <= .usage.prompt_tokens" "$DIR/o2.json"
pass "OpenAI: automatic caching above 1,024 tokens, $WANT tokens in 128-token steps"

# --- flex --------------------------------------------------------------------
openai_req luna "$PREFIX" "flex job" flex > "$DIR/f1.req"
[ "$(post /v1/chat/completions "$DIR/f1.req" f1)" = 200 ] || fail "flex request on a model that offers it"
check "flex echoed" '.service_tier == "flex"' "$DIR/f1.json"
openai_req plain "s" "x" flex > "$DIR/f-plain.req"
[ "$(post /v1/chat/completions "$DIR/f-plain.req" f-plain)" = 400 ] || fail "flex on a model without flex was accepted"
openai_req busy "s" "x" flex > "$DIR/f-busy.req"
[ "$(post /v1/chat/completions "$DIR/f-busy.req" f-busy)" = 429 ] || fail "flex_429 share 1.0 did not answer 429"
check "flex 429 shape" '.error.code == "rate_limit_exceeded"' "$DIR/f-busy.json"
openai_req busy "s" "x" > "$DIR/std-busy.req"
[ "$(post /v1/chat/completions "$DIR/std-busy.req" std-busy)" = 200 ] || fail "standard tier on the busy model"
pass "flex: echoed, refused where not offered, 429 at the configured share, standard unaffected"

# --- batches use the same cache ------------------------------------------------
jq -nc --slurpfile a "$DIR/a2.req" '{requests: [{custom_id: "c1", params: $a[0]}]}' > "$DIR/batch.req"
post /v1/messages "$DIR/a2.req" warm >/dev/null # writes again (the earlier entry expired above)
[ "$(post /v1/messages/batches "$DIR/batch.req" batch)" = 200 ] || fail "batch create"
BID=$(jq -r .id "$DIR/batch.json")
for _ in $(seq 1 50); do
    curl -s "$URL/v1/messages/batches/$BID" -H 'anthropic-version: 2023-06-01' > "$DIR/bstat.json"
    [ "$(jq -r .processing_status "$DIR/bstat.json")" = ended ] && break
    sleep 0.1
done
curl -s "$URL/v1/messages/batches/$BID/results" -H 'anthropic-version: 2023-06-01' > "$DIR/bres.jsonl"
check "batch line reads the cached prefix" \
    ".result.message.usage.cache_read_input_tokens == $BP_TOKENS and .result.message.usage.service_tier == \"batch\"" "$DIR/bres.jsonl"
pass "batch lines read the prompt cache like realtime calls"

# --- the usage log carries writes and the tier ---------------------------------
U="$DIR/cache.csv"
[ "$(head -n1 "$U")" = "request_id,api,model,input_tokens,cached_tokens,output_tokens,status,client_request_id,cache_write_tokens,cache_write_1h_tokens,service_tier" ] \
    || fail "usage log header: $(head -n1 "$U")"
id=$(jq -r .id "$DIR/a1.json")
want="$id,anthropic,sonnet,$(total_of "$DIR/a1.req"),0,$(jq .usage.output_tokens "$DIR/a1.json"),ok,,$BP_TOKENS,0,standard"
grep -qxF "$want" "$U" || fail "usage line of the cache write: wanted $want, got $(grep "$id" "$U")"
id=$(jq -r .id "$DIR/f1.json")
grep -q "^$id,openai,luna,.*,flex\$" "$U" || fail "flex call not logged as flex: $(grep "$id" "$U")"
[ "$(grep -c ',busy,' "$U" || true)" -eq 1 ] || fail "the flex 429 was billed (or the standard call was not)"
pass "usage log: cache writes, 1-hour writes and the service tier per line"

echo "13-emulator-cache: $CHECKS checks passed"
