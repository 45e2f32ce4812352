/* sl.h — conventions shared by every sluice module.
 *
 * Errors: functions return 0 (SL_OK) or a negative SL_E* code; sl_strerror()
 * names it. Human-readable detail goes into a caller buffer
 * (errstr, errstr_size), never to a global.
 * Memory: xmalloc and friends abort on OOM, so callers never check for NULL;
 * every buffer filled from outside (HTTP bodies, Kafka payloads) is capped by
 * its owner instead. */
#ifndef SL_H
#define SL_H

#include <stddef.h>
#include <stdint.h>

#define SL_MUSTCHECK __attribute__((warn_unused_result))
#define SL_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum sl_error {
    SL_OK = 0,
    SL_EINVAL = -1,   /* bad argument or bad input */
    SL_ENOMEM = -2,   /* a capped buffer would overflow */
    SL_EIO = -3,      /* file or socket error */
    SL_EDB = -4,      /* PostgreSQL error */
    SL_EKAFKA = -5,   /* Kafka error */
    SL_EHTTP = -6,    /* HTTP transport error */
    SL_ECONFIG = -7,  /* configuration error */
    SL_ETIMEOUT = -8, /* deadline passed */
    SL_ENOTFOUND = -9 /* lookup found nothing */
};

const char *sl_strerror(int err);

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a new string formatted like printf; free with free(). */
char *xasprintf(const char *fmt, ...) SL_PRINTF(1, 2);

/* Copies src into dst (always NUL-terminated, truncating). */
void sl_strlcpy(char *dst, const char *src, size_t dst_size);

/* Milliseconds since the Unix epoch (wall clock) and a monotonic clock. */
/* Reads the whole file at path, refusing one larger than max bytes (a file
 * that big is a mistake, and nothing read from outside goes uncapped).
 * Returns a new NUL-terminated buffer (free()) with its length in *len (may
 * be NULL), or NULL with "path: reason" in errstr. */
char *sl_read_file(const char *path, size_t max, size_t *len, char *errstr,
                   size_t errstr_size);

int64_t sl_now_ms(void);
int64_t sl_monotonic_us(void);
/* A uniform draw in [0, 1) from random(): the jitter of a retry backoff
 * (retry_delay_ms's rand01), the cache's verify sampling. */
double sl_rand01(void);

#endif
