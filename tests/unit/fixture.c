/* fixture.c — see fixture.h. */
#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#define FIXTURE_MAX (1 << 16)

char *fixture_read_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(FIXTURE_MAX);
    assert_non_null(buf);
    size_t n = fread(buf, 1, FIXTURE_MAX - 1, f);
    assert_false(ferror(f));
    assert_true(feof(f)); /* a larger file would be cut short */
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

char *fixture_read(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), SLUICE_SOURCE_DIR "/tests/unit/data/%s", name);
    return fixture_read_path(path, len);
}
