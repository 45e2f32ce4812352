/* csv_reader.h — the CSV reader of the tools under ops/: a file with a header
 * row, parsed by libcsv (RFC 4180) in strict mode.
 *
 * Fields come as written but for the quoting: the quotes around a quoted field
 * are removed and doubled quotes undone; commas, CR and LF inside quotes are
 * kept; nothing is trimmed. A record ends at CR, LF or CRLF outside quotes;
 * blank lines are skipped. A file is malformed (the read fails) on an
 * unterminated quote, a quote inside an unquoted field, text after a closing
 * quote, or a record whose field count differs from the header's; the error
 * reads "FILE: record N: reason", the header being record 1.
 *
 * Memory: csv_stream holds one record at a time (the fields it passes belong
 * to it); csv_labelled_read returns strings the caller frees with
 * csv_labelled_free. Errors follow sl.h: SL_OK or SL_EINVAL (malformed) /
 * SL_EIO (cannot read) with the detail in errstr. */
#ifndef CSV_READER_H
#define CSV_READER_H

#include <stddef.h>

/* Called for every record, the header first (record 1), with its n fields,
 * each NUL-terminated (lens[i] bytes; a field may hold a NUL byte of its own)
 * and valid until the call returns. A non-zero return stops the read, and
 * csv_stream returns it. */
typedef int (*csv_record_fn)(void *ctx, long record, char *const *fields,
                             const size_t *lens, size_t n);

/* Reads path record by record through fn. */
int csv_stream(const char *path, csv_record_fn fn, void *ctx, char *errstr,
               size_t errstr_size);

/* A labelled data set: row i is text[i] with label[i]. */
struct csv_labelled {
    char **text, **label;
    size_t n;
};

/* Reads the rows of a data set with columns `text` and `label`, found by
 * header name; when the header names either differently, the first two
 * columns are text and label. A file with fewer than two columns is
 * malformed. */
int csv_labelled_read(const char *path, struct csv_labelled *out, char *errstr,
                      size_t errstr_size);
void csv_labelled_free(struct csv_labelled *d);

#endif
