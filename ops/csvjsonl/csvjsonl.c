/* csvjsonl — a CSV file with a header row (RFC 4180: quoted fields may hold
 * commas, doubled quotes and newlines) to JSON lines, one object per row
 * keyed by the header, each value a string with its surrounding whitespace
 * trimmed. ops/bench-economics reads labelled data sets (text,label) with
 * it, since the shell tools cannot parse multi-line quoted fields. Parsed
 * by ops/common/csv_reader (libcsv), one record in memory at a time.
 *
 * usage: sluice-csvjsonl FILE.csv > rows.jsonl   (exit 1 on a malformed file) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "csv_reader.h"
#include "sl.h"

struct names {
    char **name;
    size_t n;
};

/* Trims f's surrounding whitespace in place. */
static const char *trimmed(char *f, size_t len)
{
    size_t b = 0, e = len;
    while (b < e && isspace((unsigned char)f[b]))
        b++;
    while (e > b && isspace((unsigned char)f[e - 1]))
        e--;
    f[e] = '\0';
    return f + b;
}

static int on_record(void *ctx, long record, char *const *fields, const size_t *lens,
                     size_t n)
{
    struct names *h = ctx;
    if (record == 1) {
        h->name = xcalloc(n, sizeof *h->name);
        for (h->n = 0; h->n < n; h->n++)
            h->name[h->n] = xstrdup(trimmed(fields[h->n], lens[h->n]));
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++)
        cJSON_AddStringToObject(o, h->name[i], trimmed(fields[i], lens[i]));
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sluice-csvjsonl FILE.csv (a readable CSV file with a header row)\n");
        return 2;
    }
    struct names h = {0};
    char err[512];
    int rc = csv_stream(argv[1], on_record, &h, err, sizeof err);
    if (rc != SL_OK)
        fprintf(stderr, "sluice-csvjsonl: %s\n", err);
    for (size_t i = 0; i < h.n; i++)
        free(h.name[i]);
    free(h.name);
    return rc == SL_OK ? 0 : rc == SL_EIO ? 2 : 1;
}
