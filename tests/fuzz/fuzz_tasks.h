/* fuzz_tasks.h — one config with a task of every output type (label, json
 * with a schema, text), for the harnesses that judge answers or validate
 * jobs against tasks. Needs lib/config.c (and log.c, sl.c). */
#ifndef SL_FUZZ_TASKS_H
#define SL_FUZZ_TASKS_H

#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static const char fuzz_config_json[] =
    "{\"kafka\": {\"bootstrap_servers\": \"k:9092\"},"
    " \"postgres\": {\"conninfo\": \"dbname=t\"},"
    " \"worker\": {\"max_input_bytes\": 256},"
    " \"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"http://x/v1\"}},"
    " \"prices\": {\"m\": {\"input\": 1, \"output\": 1}},"
    " \"tiers\": {\"1\": {\"provider\": \"p\", \"model\": \"m\"}},"
    " \"tasks\": {"
    "  \"intent\": {\"output\": \"label\","
    "   \"labels\": [\"refund\", \"billing\", \"Other\", \"\\u00e9t\\u00e9\"],"
    "   \"prompt\": \"{{labels}} {{input}}\", \"confidence_threshold\": 0.8},"
    "  \"extract\": {\"output\": \"json\","
    "   \"schema\": {\"type\": \"object\", \"additionalProperties\": false,"
    "     \"required\": [\"order_id\"],"
    "     \"properties\": {"
    "       \"order_id\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 8},"
    "       \"qty\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 99},"
    "       \"tags\": {\"type\": \"array\", \"maxItems\": 3,"
    "                \"items\": {\"enum\": [\"a\", \"b\", null, 1.5, {\"x\": [1]}]}},"
    "       \"note\": {\"type\": [\"string\", \"null\"]}}},"
    "   \"prompt\": \"{{schema}} {{input}}\", \"confidence_threshold\": 0.5},"
    "  \"summary\": {\"output\": \"text\", \"prompt\": \"{{input}}\","
    "   \"confidence_threshold\": 0}}}";

/* The config, parsed once per process (never freed: it lives as long as
 * the fuzzer). Aborts when it does not parse, which would be a bug here. */
static inline const struct config *fuzz_config(void)
{
    static struct config *cfg;
    if (!cfg) {
        char err[512];
        if (config_parse(fuzz_config_json, "fuzz", &cfg, err, sizeof(err)) !=
            SL_OK) {
            fprintf(stderr, "fuzz config: %s\n", err);
            abort();
        }
    }
    return cfg;
}

#endif
