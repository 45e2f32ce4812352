/* batch_splitter.c — splitting a streamed result file into lines (see
 * batch_wire.h). Result files reach hundreds of megabytes, so they are
 * never held whole: only the current partial line is buffered, and never
 * more than max_line bytes of it. */
#include "batch_wire.h"

#include <stdlib.h>
#include <string.h>

struct batch_splitter {
    size_t max_line;
    batch_line_cb on_line;
    void *arg;
    char *buf;       /* the partial line, at most max_line + 1 bytes */
    size_t len, cap;
    bool dropping;   /* inside an over-long line: counting, not keeping */
    size_t dropped;  /* its length so far */
    int stopped;     /* on_line's nonzero return, once it gave one */
};

struct batch_splitter *batch_splitter_new(size_t max_line, batch_line_cb on_line,
                                          void *arg)
{
    struct batch_splitter *s = xcalloc(1, sizeof(*s));
    s->max_line = max_line > 0 ? max_line : 1;
    s->on_line = on_line;
    s->arg = arg;
    return s;
}

void batch_splitter_free(struct batch_splitter *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}

/* One complete line; a "\r" before the "\n" is not part of it. */
static int deliver(struct batch_splitter *s, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    if (len > s->max_line)
        return s->on_line(NULL, len, s->arg);
    return s->on_line(line, len, s->arg);
}

static void keep(struct batch_splitter *s, const char *data, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        s->cap = cap < s->max_line + 1 ? cap : s->max_line + 1;
        s->buf = xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

/* take bytes of the current line, ending it when ended. The "+ 1" leaves
 * room for a "\r" that deliver() strips. */
static int consume(struct batch_splitter *s, const char *data, size_t take,
                   bool ended)
{
    if (!s->dropping && s->len == 0 && ended)
        return deliver(s, data, take); /* whole line in the chunk: no copy */
    if (!s->dropping && s->len + take > s->max_line + 1) {
        s->dropping = true;
        s->dropped = s->len;
        s->len = 0;
    }
    if (s->dropping)
        s->dropped += take;
    else
        keep(s, data, take);
    if (!ended)
        return 0;
    int rc;
    if (s->dropping)
        rc = s->on_line(NULL, s->dropped, s->arg);
    else
        rc = deliver(s, s->buf, s->len);
    s->dropping = false;
    s->dropped = 0;
    s->len = 0;
    return rc;
}

int batch_splitter_feed(struct batch_splitter *s, const char *data,
                        size_t len)
{
    while (len > 0 && s->stopped == 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        s->stopped = consume(s, data, take, nl != NULL);
        size_t used = take + (nl ? 1 : 0);
        data += used;
        len -= used;
    }
    return s->stopped;
}

int batch_splitter_finish(struct batch_splitter *s)
{
    if (s->stopped == 0 && (s->dropping || s->len > 0))
        s->stopped = consume(s, "", 0, true);
    return s->stopped;
}
