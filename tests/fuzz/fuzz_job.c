/* sources: lib/utf8.c lib/job.c lib/rfc3339.c lib/config.c lib/config_table.c lib/log.c lib/sl.c */
/* Job messages as they come off Kafka: job_parse (strict UTF-8, the JSON,
 * every field check, RFC 3339 deadlines) and the UTF-8 helpers on the raw
 * bytes. Checks job.h's promises: a reason is one printable line, an
 * accepted job's input is valid UTF-8 within max_input_bytes. */
#include <stdint.h>
#include <string.h>

#include "fuzz_tasks.h"
#include "fuzz_util.h"
#include "job.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct config *cfg = fuzz_config();
    char *buf = fuzz_bytes(data, size);
    char reason[256];
    struct job *job = NULL;
    enum job_reject rc = job_parse(cfg, buf, size, &job, reason, sizeof(reason));
    FUZZ_CHECK(fuzz_printable(reason));
    FUZZ_CHECK(strcmp(job_reject_name(rc), "unknown") != 0);
    if (rc == JOB_OK) {
        FUZZ_CHECK(job && job->task && job->id && job->input);
        FUZZ_CHECK(job->input_len <= cfg->worker.max_input_bytes);
        FUZZ_CHECK(utf8_valid(job->input, job->input_len));
        FUZZ_CHECK(job->deadline_ms >= 0);
        job_free(job);
    } else {
        FUZZ_CHECK(job == NULL && reason[0] != '\0');
    }

    /* The UTF-8 helpers on their own: utf8_seq_len must never claim more
     * bytes than are left, and utf8_valid agrees with walking it. */
    int valid = utf8_valid(buf, size);
    size_t off = 0, chars = 0;
    bool walk_ok = true;
    while (off < size) {
        size_t n = utf8_seq_len((const unsigned char *)buf + off, size - off);
        FUZZ_CHECK(n <= size - off && n <= 4);
        if (n == 0 || buf[off] == '\0') {
            walk_ok = false;
            break;
        }
        off += n;
        chars++;
    }
    FUZZ_CHECK(valid == walk_ok);
    if (valid) {
        char *s = fuzz_cstr(data, size);
        FUZZ_CHECK(utf8_chars(s) == chars);
        free(s);
    }
    free(buf);
    return 0;
}
