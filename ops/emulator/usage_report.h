/* usage_report.h — the providers' organization usage APIs, served from what
 * the emulator billed (reply.h totals), so `sluice reconcile` can compare
 * the ledger with a provider's own report:
 *   OpenAI    GET /v1/organization/usage/completions
 *             ?start_time=UNIX[&end_time=UNIX][&bucket_width=1d]
 *             [&group_by=model&group_by=batch][&limit=N][&page=CURSOR]
 *   Anthropic GET /v1/organizations/usage_report/messages
 *             ?starting_at=RFC3339[&ending_at=RFC3339][&bucket_width=1d]
 *             [&group_by[]=model&group_by[]=service_tier][&limit=N][&page=CURSOR]
 * Only daily buckets (bucket_width 1d, the default); limit defaults to 7
 * buckets, at most 31; one bucket per UTC day in range, empty days too. */
#ifndef EMU_USAGE_REPORT_H
#define EMU_USAGE_REPORT_H

#include <stdbool.h>

#include <microhttpd.h>

#include "reply.h"

/* True for the two report paths. */
bool emu_usage_report_route(const char *url);
/* Answers the report request on c (GET only); returns MHD's result. */
enum MHD_Result emu_usage_report_answer(struct MHD_Connection *c, const char *url, const char *method,
                                        struct emu_usage_log *usage);

#endif
