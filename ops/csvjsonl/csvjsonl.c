/* csvjsonl — a CSV file with a header row (RFC 4180: quoted fields may hold
 * commas, doubled quotes and newlines) to JSON lines, one object per row
 * keyed by the header, each value a string with its surrounding whitespace
 * trimmed. ops/bench-economics reads labelled data sets (text,label) with
 * it, since the shell tools cannot parse multi-line quoted fields.
 *
 * usage: sluice-csvjsonl FILE.csv > rows.jsonl   (exit 1 on a malformed file) */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define MAX_FIELDS 64

struct field {
    char *p;
    size_t len, cap;
};

static void add_char(struct field *f, char c)
{
    if (f->len + 1 >= f->cap) {
        f->cap = f->cap ? 2 * f->cap : 256;
        f->p = realloc(f->p, f->cap);
        if (f->p == NULL)
            abort();
    }
    f->p[f->len++] = c;
    f->p[f->len] = '\0';
}

/* Reads one record into fields[]; returns the field count, 0 at end of
 * file, -1 on an unterminated quote or too many fields. */
static int read_record(FILE *in, struct field *fields)
{
    int n = 0, c;
    bool quoted = false, any = false;
    fields[0].len = 0;
    if (fields[0].p)
        fields[0].p[0] = '\0';
    while ((c = fgetc(in)) != EOF) {
        any = true;
        if (quoted) {
            if (c != '"') {
                add_char(&fields[n], (char)c);
                continue;
            }
            int next = fgetc(in);
            if (next == '"') {
                add_char(&fields[n], '"');
                continue;
            }
            quoted = false;
            if (next == EOF)
                break;
            c = next;
        }
        if (c == '"' && fields[n].len == 0) {
            quoted = true;
        } else if (c == ',') {
            if (++n == MAX_FIELDS)
                return -1;
            fields[n].len = 0;
            if (fields[n].p)
                fields[n].p[0] = '\0';
        } else if (c == '\n') {
            break;
        } else if (c != '\r') {
            add_char(&fields[n], (char)c);
        }
    }
    if (quoted)
        return -1;
    return any ? n + 1 : 0;
}

static const char *trimmed(struct field *f)
{
    if (f->p == NULL)
        return "";
    size_t b = 0, e = f->len;
    while (b < e && isspace((unsigned char)f->p[b]))
        b++;
    while (e > b && isspace((unsigned char)f->p[e - 1]))
        e--;
    f->p[e] = '\0';
    return f->p + b;
}

int main(int argc, char **argv)
{
    static struct field fields[MAX_FIELDS];
    char *names[MAX_FIELDS];
    FILE *in = argc == 2 ? fopen(argv[1], "r") : NULL;
    if (in == NULL) {
        fprintf(stderr, "usage: sluice-csvjsonl FILE.csv (a readable CSV file with a header row)\n");
        return 2;
    }
    int n_names = read_record(in, fields);
    if (n_names <= 0) {
        fprintf(stderr, "sluice-csvjsonl: %s: no header row\n", argv[1]);
        return 1;
    }
    for (int i = 0; i < n_names; i++)
        names[i] = strdup(trimmed(&fields[i]));
    long line = 1;
    int n;
    while ((n = read_record(in, fields)) != 0) {
        line++;
        if (n < 0 || (n != n_names && !(n == 1 && fields[0].len == 0))) {
            fprintf(stderr, "sluice-csvjsonl: %s: record %ld: malformed or %d fields (header: %d)\n",
                    argv[1], line, n, n_names);
            return 1;
        }
        if (n == 1 && fields[0].len == 0)
            continue; /* a blank line */
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; i < n; i++)
            cJSON_AddStringToObject(o, names[i], trimmed(&fields[i]));
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    }
    fclose(in);
    for (int i = 0; i < n_names; i++)
        free(names[i]);
    for (int i = 0; i < MAX_FIELDS; i++)
        free(fields[i].p);
    return 0;
}
