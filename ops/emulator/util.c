/* util.c — allocation and bounded input helpers of the emulator. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "util.h"

static void *check(void *p)
{
    if (p == NULL) {
        fputs("sluice-emulator: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *emu_xmalloc(size_t size)
{
    return check(malloc(size ? size : 1));
}

void *emu_xcalloc(size_t count, size_t size)
{
    return check(calloc(count ? count : 1, size ? size : 1));
}

void *emu_xrealloc(void *ptr, size_t size)
{
    return check(realloc(ptr, size ? size : 1));
}

char *emu_xstrdup(const char *s)
{
    return check(strdup(s));
}

char *emu_xstrndup(const char *s, size_t n)
{
    return check(strndup(s, n));
}

void emu_free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

ssize_t emu_read_line(FILE *f, char **buf, size_t *cap, size_t max)
{
    size_t len = 0;
    int c;
    int too_long = 0;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (len >= max) {
            too_long = 1; /* keep reading so the next call starts on a new line */
            continue;
        }
        if (len + 2 > *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *buf = emu_xrealloc(*buf, *cap);
        }
        (*buf)[len++] = (char)c;
    }
    if (c == EOF && len == 0 && !too_long)
        return -1;
    if (too_long)
        return -2;
    if (*cap == 0) {
        *cap = 256;
        *buf = emu_xrealloc(*buf, *cap);
    }
    (*buf)[len] = '\0';
    return (ssize_t)len;
}

char *emu_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = emu_xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int failed = ferror(f) || n > max;
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

size_t emu_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

size_t emu_utf8_prefix(const char *s, size_t n)
{
    size_t i = 0, seen = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && seen++ == n)
            break;
    }
    return i;
}

void emu_buf_add(struct emu_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = emu_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void emu_buf_puts(struct emu_buf *b, const char *s)
{
    emu_buf_add(b, s, strlen(s));
}

void emu_buf_json_str(struct emu_buf *b, const char *s)
{
    cJSON *str = cJSON_CreateString(s);
    char *text = str ? cJSON_PrintUnformatted(str) : NULL;
    cJSON_Delete(str);
    check(text);
    emu_buf_puts(b, text);
    free(text);
}

double emu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
