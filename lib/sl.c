#include "sl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *sl_strerror(int err)
{
    switch (err) {
    case SL_OK: return "success";
    case SL_EINVAL: return "invalid argument";
    case SL_ENOMEM: return "buffer limit reached";
    case SL_EIO: return "i/o error";
    case SL_EDB: return "database error";
    case SL_EKAFKA: return "kafka error";
    case SL_EHTTP: return "http error";
    case SL_ECONFIG: return "configuration error";
    case SL_ETIMEOUT: return "timed out";
    case SL_ENOTFOUND: return "not found";
    default: return "unknown error";
    }
}

static void *die_oom(size_t size)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    return p ? p : die_oom(size);
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : die_oom(count * size);
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    return p ? p : die_oom(size);
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return xstrdup("");
    char *out = xmalloc((size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return out;
}

void sl_strlcpy(char *dst, const char *src, size_t dst_size)
{
    if (dst_size == 0)
        return;
    size_t n = strlen(src);
    if (n >= dst_size)
        n = dst_size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int64_t sl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double sl_rand01(void)
{
    return (double)random() / ((double)RAND_MAX + 1.0);
}

int64_t sl_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *sl_read_file(const char *path, size_t max, size_t *len, char *errstr,
                   size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open: %s", path,
                 strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno || n > max) {
        if (read_errno)
            snprintf(errstr, errstr_size, "%s: cannot read: %s", path,
                     strerror(read_errno));
        else
            snprintf(errstr, errstr_size, "%s: larger than %zu bytes", path,
                     max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
