#include "csv_reader.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl.h"

#define CHUNK 65536

/* One field slot of the current record; slots keep their buffers from one
 * record to the next. */
struct slot {
    char *p;
    size_t cap;
};

struct reader {
    const char *path;
    csv_record_fn fn;
    void *ctx;
    struct slot *slots;
    char **fields;
    size_t *lens;
    size_t n, cap;   /* fields of the current record, slots allocated */
    size_t n_header; /* field count of the header */
    long record;     /* records ended so far */
    int stop;        /* non-zero: fn's return or an error, later records ignored */
    char *errstr;
    size_t errstr_size;
};

static void on_field(void *s, size_t len, void *data)
{
    struct reader *r = data;
    if (r->stop)
        return;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->slots = xrealloc(r->slots, r->cap * sizeof *r->slots);
        r->fields = xrealloc(r->fields, r->cap * sizeof *r->fields);
        r->lens = xrealloc(r->lens, r->cap * sizeof *r->lens);
        memset(r->slots + r->n, 0, (r->cap - r->n) * sizeof *r->slots);
    }
    struct slot *f = &r->slots[r->n];
    if (len + 1 > f->cap) {
        f->cap = len + 1 > 2 * f->cap ? len + 1 : 2 * f->cap;
        f->p = xrealloc(f->p, f->cap);
    }
    if (len > 0)
        memcpy(f->p, s, len);
    f->p[len] = '\0';
    r->fields[r->n] = f->p;
    r->lens[r->n++] = len;
}

static void on_record(int c, void *data)
{
    (void)c;
    struct reader *r = data;
    size_t n = r->n;
    r->n = 0;
    if (r->stop)
        return;
    long record = ++r->record;
    if (record == 1) {
        r->n_header = n;
    } else if (n != r->n_header) {
        snprintf(r->errstr, r->errstr_size, "%s: record %ld: %zu fields, the header has %zu",
                 r->path, record, n, r->n_header);
        r->stop = SL_EINVAL;
        return;
    }
    r->stop = r->fn(r->ctx, record, r->fields, r->lens, n);
}

/* The error libcsv reported, for the record being read. */
static int parse_error(struct reader *r, struct csv_parser *p, const char *eparse)
{
    int e = csv_error(p);
    snprintf(r->errstr, r->errstr_size, "%s: record %ld: %s", r->path, r->record + 1,
             e == CSV_EPARSE ? eparse : csv_strerror(e));
    return SL_EINVAL;
}

static int parse_file(struct reader *r, struct csv_parser *p, FILE *f)
{
    static char buf[CHUNK];
    size_t got;
    while (r->stop == 0 && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        size_t used = csv_parse(p, buf, got, on_field, on_record, r);
        if (r->stop == 0 && used != got)
            return parse_error(r, p, "a quote inside an unquoted field or text after a closing quote");
    }
    if (r->stop != 0)
        return r->stop;
    if (ferror(f)) {
        snprintf(r->errstr, r->errstr_size, "%s: %s", r->path, strerror(errno));
        return SL_EIO;
    }
    if (csv_fini(p, on_field, on_record, r) != 0)
        return parse_error(r, p, "unterminated quote");
    if (r->stop == 0 && r->record == 0) {
        snprintf(r->errstr, r->errstr_size, "%s: no header row", r->path);
        return SL_EINVAL;
    }
    return r->stop;
}

/* Fields are taken as written: no character counts as a space to trim. */
static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

int csv_stream(const char *path, csv_record_fn fn, void *ctx, char *errstr,
               size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return SL_EIO;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        fclose(f);
        snprintf(errstr, errstr_size, "%s: %s", path, csv_strerror(CSV_ENOMEM));
        return SL_EIO;
    }
    csv_set_space_func(&p, no_space);
    struct reader r = {.path = path, .fn = fn, .ctx = ctx, .errstr = errstr,
                       .errstr_size = errstr_size};
    int rc = parse_file(&r, &p, f);
    csv_free(&p);
    fclose(f);
    for (size_t i = 0; i < r.cap; i++)
        free(r.slots[i].p);
    free(r.slots);
    free(r.fields);
    free(r.lens);
    return rc;
}

/* ---- labelled data sets ---- */

struct labelled {
    struct csv_labelled *out;
    size_t cap;
    size_t text, label; /* column indexes */
    const char *path;
    char *errstr;
    size_t errstr_size;
};

/* Header names compare without surrounding whitespace. */
static int is_name(const char *field, const char *name)
{
    size_t len = strlen(name);
    field += strspn(field, " \t\r\n");
    return strncmp(field, name, len) == 0 && field[len + strspn(field + len, " \t\r\n")] == '\0';
}

static int on_header(struct labelled *l, char *const *fields, size_t n)
{
    if (n < 2) {
        snprintf(l->errstr, l->errstr_size, "%s: record 1: %zu field, need text and label",
                 l->path, n);
        return SL_EINVAL;
    }
    size_t text = n, label = n;
    for (size_t i = 0; i < n; i++) {
        if (text == n && is_name(fields[i], "text"))
            text = i;
        if (label == n && is_name(fields[i], "label"))
            label = i;
    }
    l->text = text < n && label < n ? text : 0;
    l->label = text < n && label < n ? label : 1;
    return SL_OK;
}

static int on_row(void *ctx, long record, char *const *fields, const size_t *lens, size_t n)
{
    (void)lens;
    struct labelled *l = ctx;
    if (record == 1)
        return on_header(l, fields, n);
    struct csv_labelled *d = l->out;
    if (d->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        d->text = xrealloc(d->text, l->cap * sizeof *d->text);
        d->label = xrealloc(d->label, l->cap * sizeof *d->label);
    }
    d->text[d->n] = xstrdup(fields[l->text]);
    d->label[d->n++] = xstrdup(fields[l->label]);
    return SL_OK;
}

int csv_labelled_read(const char *path, struct csv_labelled *out, char *errstr,
                      size_t errstr_size)
{
    *out = (struct csv_labelled){0};
    struct labelled l = {.out = out, .path = path, .errstr = errstr,
                         .errstr_size = errstr_size};
    int rc = csv_stream(path, on_row, &l, errstr, errstr_size);
    if (rc != SL_OK)
        csv_labelled_free(out);
    return rc;
}

void csv_labelled_free(struct csv_labelled *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->text[i]);
        free(d->label[i]);
    }
    free(d->text);
    free(d->label);
    *d = (struct csv_labelled){0};
}
