/* rfc3339.h — RFC 3339 timestamps ("2026-11-23T10:00:00Z") to Unix ms, for
 * job deadlines and the providers' batch timestamps. Strict: fixed field
 * positions, calendar-checked, offsets "Z" or "+hh:mm"/"-hh:mm", fractions
 * of any length (digits past the millisecond are truncated). Pure. */
#ifndef SL_RFC3339_H
#define SL_RFC3339_H

#include <stdint.h>

#include "sl.h"

/* Parses text into unix ms. Returns 0 or SL_EINVAL. */
int rfc3339_parse_ms(const char *text, int64_t *out_ms);

#endif
