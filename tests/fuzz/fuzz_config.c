/* sources: lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* The config file: config_parse on the input as text (every section's
 * validation, tasks, schemas, routing, budgets), and for inputs that
 * parse, config_load on the same bytes written to a temporary file (the
 * file reading and the environment overrides, which derive variable names
 * from provider names). Checks that errors name the source and that what
 * parses holds together (every ladder tier exists, with its provider and
 * price). */
#include <stdint.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"

static char tmp_path[64];

static void remove_tmp(void)
{
    unlink(tmp_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/sluice-fuzz-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_tmp);
    /* One override per kind, so apply_env replaces a string for real. */
    setenv("SLUICE_PG_CONNINFO", "dbname=fuzz", 1);
    setenv("SLUICE_PROVIDER_P_BASE_URL", "http://fuzz/v1", 1);
    return 0;
}

static void check_config(const struct config *cfg)
{
    FUZZ_CHECK(cfg->n_tiers >= 1 && cfg->n_tasks >= 1);
    for (size_t i = 0; i < cfg->n_tiers; i++)
        FUZZ_CHECK(cfg->tiers[i].provider && cfg->tiers[i].price);
    for (size_t i = 0; i < cfg->n_tasks; i++) {
        const struct task_conf *t = &cfg->tasks[i];
        FUZZ_CHECK(t->n_ladder >= 1 && t->n_ladder <= CONFIG_MAX_TIERS);
        for (size_t k = 0; k < t->n_ladder; k++)
            FUZZ_CHECK(config_tier(cfg, t->ladder[k]) != NULL);
        FUZZ_CHECK(config_task(cfg, t->name) == t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct config *cfg = NULL;
    char err[512];
    err[0] = '\0';
    int rc = config_parse(text, "fuzz.json", &cfg, err, sizeof(err));
    if (rc != SL_OK) {
        FUZZ_CHECK(rc == SL_ECONFIG && cfg == NULL);
        FUZZ_CHECK(strncmp(err, "fuzz.json", 9) == 0);
        free(text);
        return 0;
    }
    check_config(cfg);
    config_free(cfg);

    FILE *f = fopen(tmp_path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    cfg = NULL;
    rc = config_load(tmp_path, &cfg, err, sizeof(err));
    /* A NUL inside makes the file text shorter than what parsed above. */
    if (memchr(data, '\0', size) == NULL)
        FUZZ_CHECK(rc == SL_OK);
    if (rc == SL_OK) {
        check_config(cfg);
        FUZZ_CHECK(strcmp(cfg->pg_conninfo, "dbname=fuzz") == 0);
        config_free(cfg);
    }
    free(text);
    return 0;
}
