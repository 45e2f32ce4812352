/* util.h — allocation and bounded input helpers of the emulator. */
#ifndef EMU_UTIL_H
#define EMU_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* These abort on OOM: a demo stand-in has nothing better to do. */
void *emu_xmalloc(size_t size);
void *emu_xcalloc(size_t count, size_t size);
void *emu_xrealloc(void *ptr, size_t size);
char *emu_xstrdup(const char *s);
char *emu_xstrndup(const char *s, size_t n);
void emu_free_strv(char **v, size_t n);

/* Reads one line (without the newline) into *buf. Returns its length,
 * -1 at end of file, -2 when the line exceeds max bytes. */
ssize_t emu_read_line(FILE *f, char **buf, size_t *cap, size_t max);

/* Reads a whole file of at most max bytes; NULL on error or when larger. */
char *emu_read_file(const char *path, size_t max, size_t *len);

/* Number of UTF-8 code points (continuation bytes are not counted). */
size_t emu_utf8_chars(const char *s);

/* Byte offset just after the first n code points of s. */
size_t emu_utf8_prefix(const char *s, size_t n);

/* A growable string; abort on OOM like the x* helpers. p is NUL-terminated
 * once anything was appended; the owner frees p. */
struct emu_buf {
    char *p;
    size_t len, cap;
};
void emu_buf_add(struct emu_buf *b, const char *s, size_t n);
void emu_buf_puts(struct emu_buf *b, const char *s);
/* Appends s as a JSON string literal, quotes and escapes included. */
void emu_buf_json_str(struct emu_buf *b, const char *s);

/* Wall-clock time in seconds, with fractions. */
double emu_now(void);

#endif
