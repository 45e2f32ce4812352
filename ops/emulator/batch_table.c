/* batch_table.c — the emulator's batch table, above both batch APIs: create
 * and free it (each API frees its own objects) and route a request to the
 * API it belongs to. */
#include <stdlib.h>
#include <string.h>

#include "batch_internal.h"
#include "util.h"

struct emu_batches *emu_batches_new(const struct emu_config *cfg, struct emu_usage_log *usage)
{
    struct emu_batches *b = emu_xcalloc(1, sizeof(*b));
    b->cfg = cfg;
    b->usage = usage;
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void emu_batches_free(struct emu_batches *b)
{
    if (b == NULL)
        return;
    emu_batches_free_openai(b);
    emu_batches_free_anthropic(b);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

enum emu_batch_route emu_batch_route(const char *method, const char *path)
{
    if (strcmp(path, "/v1/files") == 0 && strcmp(method, "POST") == 0)
        return EMU_BATCH_UPLOAD;
    if (emu_path_tail(path, "/v1/files") || emu_path_tail(path, "/v1/batches"))
        return EMU_BATCH_OPENAI;
    if (emu_path_tail(path, "/v1/messages/batches"))
        return EMU_BATCH_ANTHROPIC;
    return EMU_BATCH_NONE;
}
