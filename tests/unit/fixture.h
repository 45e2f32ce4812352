/* fixture.h — reading the test data files in tests/unit/data/ (and any
 * other file of the source tree, e.g. the example config).
 * List tests/unit/fixture.c in the test's "sources:" line. */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <stddef.h>

/* Returns tests/unit/data/<name> as a new NUL-terminated string (free with
 * free()) and its length in *len; fails the running cmocka test when the
 * file cannot be read or does not fit in 64 KiB. */
char *fixture_read(const char *name, size_t *len);

/* The same for any path (len may be NULL). */
char *fixture_read_path(const char *path, size_t *len);

#endif
